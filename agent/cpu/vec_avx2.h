// The AVX2 vector primitives (vec_avx2.cc), by name, so that the AVX-512
// table (vec_avx512.cc) can use those it has no version of its own for.
// Call only where IsaSupported(Isa::kAvx2); see VecKernels for what each does.
#ifndef AISCORE_AGENT_CPU_VEC_AVX2_H_
#define AISCORE_AGENT_CPU_VEC_AVX2_H_

#include <cstdint>

namespace aiscore::avx2 {

void AttentionScores(const float* q, int64_t heads, int64_t hd, const uint16_t* k, int64_t k_stride,
                     int64_t len, float scale, float* scores);
void AttentionValues(const float* probs, int64_t heads, int64_t len, const uint16_t* v,
                     int64_t v_stride, int64_t hd, float* out);
void F32ToF16(const float* x, uint16_t* y, int64_t n);
float ExpSum(float* x, int64_t n, float shift);
void SiluMul(const float* gate, const float* up, float* out, int64_t n);

}  // namespace aiscore::avx2

#endif  // AISCORE_AGENT_CPU_VEC_AVX2_H_
