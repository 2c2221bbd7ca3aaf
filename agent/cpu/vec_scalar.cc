// Portable vector primitives, and the per-ISA choice among the tables.
#include "agent/cpu/vec_kernels.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

float DotF32F16(const float* a, const uint16_t* b, int64_t n) {
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += a[i] * Fp16ToFp32(b[i]);
  return sum;
}

void AxpyF16(float alpha, const uint16_t* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += alpha * Fp16ToFp32(x[i]);
}

void F32ToF16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = Fp32ToFp16(x[i]);
}

}  // namespace

extern const VecKernels kScalarVecKernels = {Isa::kScalar, DotF32F16, AxpyF16, F32ToF16};

const VecKernels& BestVecKernels(Isa isa) {
#ifdef AISCORE_HAVE_X86_KERNELS
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return kAvx2VecKernels;
#endif
  return kScalarVecKernels;
}

}  // namespace aiscore
