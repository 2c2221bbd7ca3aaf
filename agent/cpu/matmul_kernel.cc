#include "agent/cpu/matmul_kernel.h"

namespace aiscore {

// Every kernel, defined in the file of its format and ISA.
extern const MatMulKernel kF32ScalarKernel;
extern const MatMulKernel kF16ScalarKernel;
extern const MatMulKernel kQ8_0ScalarKernel;
extern const MatMulKernel kQ4_KScalarKernel;
extern const MatMulKernel kQ2_KScalarKernel;
extern const MatMulKernel kQ6_KScalarKernel;
extern const MatMulKernel kQ3_KScalarKernel;
#ifdef AISCORE_HAVE_X86_KERNELS
// SIMD kernels: declare and list each here as its file lands.
extern const MatMulKernel kF32Avx2Kernel;
extern const MatMulKernel kF16Avx2Kernel;
extern const MatMulKernel kQ8_0Avx2Kernel;
extern const MatMulKernel kQ4_KAvx2Kernel;
extern const MatMulKernel kQ2_KAvx2Kernel;
extern const MatMulKernel kQ6_KAvx2Kernel;
extern const MatMulKernel kQ3_KAvx2Kernel;
extern const MatMulKernel kQ8_0AvxVnniKernel;
extern const MatMulKernel kQ2_KAvxVnniKernel;
extern const MatMulKernel kQ4_KAvxVnniKernel;
extern const MatMulKernel kF32Avx512Kernel;
extern const MatMulKernel kF16Avx512Kernel;
extern const MatMulKernel kQ8_0Avx512Kernel;
extern const MatMulKernel kQ4_KAvx512Kernel;
extern const MatMulKernel kQ2_KAvx512Kernel;
extern const MatMulKernel kQ6_KAvx512Kernel;
extern const MatMulKernel kQ3_KAvx512Kernel;
#endif

namespace {

const MatMulKernel* const kKernelTable[] = {
    &kF32ScalarKernel,   &kF16ScalarKernel,  &kQ8_0ScalarKernel,  &kQ4_KScalarKernel,
    &kQ2_KScalarKernel,  &kQ6_KScalarKernel, &kQ3_KScalarKernel,
#ifdef AISCORE_HAVE_X86_KERNELS
    &kF32Avx2Kernel,     &kF16Avx2Kernel,    &kQ8_0Avx2Kernel,    &kQ4_KAvx2Kernel,
    &kQ2_KAvx2Kernel,    &kF16Avx512Kernel,  &kQ8_0Avx512Kernel,  &kQ4_KAvx512Kernel,
    &kQ2_KAvx512Kernel,  &kQ6_KAvx2Kernel,   &kQ3_KAvx2Kernel,    &kQ6_KAvx512Kernel,
    &kQ3_KAvx512Kernel,  &kF32Avx512Kernel,  &kQ8_0AvxVnniKernel, &kQ2_KAvxVnniKernel,
    &kQ4_KAvxVnniKernel,
#endif
};

}  // namespace

const MatMulKernel* FindMatMulKernel(Format format, Isa isa) {
  for (const MatMulKernel* k : kKernelTable) {
    if (k->format == format && k->isa == isa) return k;
  }
  return nullptr;
}

const MatMulKernel& BestMatMulKernel(Format format, Isa isa) {
  for (int i = static_cast<int>(isa); i >= 0; --i) {
    const Isa candidate = static_cast<Isa>(i);
    if (!IsaSupported(candidate)) continue;
    if (const MatMulKernel* k = FindMatMulKernel(format, candidate)) return *k;
  }
  return *FindMatMulKernel(format, Isa::kScalar);
}

}  // namespace aiscore
