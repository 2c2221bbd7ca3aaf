// Small vector primitives over F16 data that attention and the KV cache use,
// one table per ISA, picked like the matmul kernels.
//
// All functions are pure and thread-safe. F16 values are IEEE binary16
// bits; conversions to F16 round to nearest even, exactly as Fp32ToFp16.
#ifndef AISCORE_AGENT_CPU_VEC_KERNELS_H_
#define AISCORE_AGENT_CPU_VEC_KERNELS_H_

#include <cstdint>

#include "agent/cpu/cpu_features.h"

namespace aiscore {

struct VecKernels {
  Isa isa;
  // Returns sum_i a[i] * b[i].
  float (*dot_f32_f16)(const float* a, const uint16_t* b, int64_t n);
  // y[i] += alpha * x[i].
  void (*axpy_f16)(float alpha, const uint16_t* x, float* y, int64_t n);
  // y[i] = f16(x[i]).
  void (*f32_to_f16)(const float* x, uint16_t* y, int64_t n);
};

// The table of the highest supported ISA at or below `isa`.
const VecKernels& BestVecKernels(Isa isa);

extern const VecKernels kScalarVecKernels;
#ifdef AISCORE_HAVE_X86_KERNELS
extern const VecKernels kAvx2VecKernels;
#endif

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_VEC_KERNELS_H_
