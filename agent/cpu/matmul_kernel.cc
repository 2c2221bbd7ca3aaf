#include "agent/cpu/matmul_kernel.h"

namespace aiscore {

// Every kernel, defined in the file of its format and ISA.
extern const MatMulKernel kF32ScalarKernel;
extern const MatMulKernel kF16ScalarKernel;
extern const MatMulKernel kQ8_0ScalarKernel;
extern const MatMulKernel kQ4_KScalarKernel;
extern const MatMulKernel kQ2_KScalarKernel;
#ifdef AISCORE_HAVE_X86_KERNELS
// SIMD kernels: declare and list each here as its file lands.
#endif

namespace {

const MatMulKernel* const kKernelTable[] = {
    &kF32ScalarKernel, &kF16ScalarKernel, &kQ8_0ScalarKernel, &kQ4_KScalarKernel,
    &kQ2_KScalarKernel,
#ifdef AISCORE_HAVE_X86_KERNELS
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
