// The AVX2 vector primitives (vec_avx2.cc), by name, so that the AVX-512
// table (vec_avx512.cc) can use those it has no version of its own for.
// Call only where IsaSupported(Isa::kAvx2); see VecKernels for what each does.
#ifndef AISCORE_AGENT_CPU_VEC_AVX2_H_
#define AISCORE_AGENT_CPU_VEC_AVX2_H_

#include <cstdint>

namespace aiscore::avx2 {

void AttentionDecodeScores(const float* q, int64_t kv_heads, int64_t group, int64_t hd,
                           const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t n,
                           float scale, float* scores, float* block_max);
void AttentionDecodeValues(const float* weights, const float* rescale, int64_t kv_heads,
                           int64_t group, int64_t hd, const uint16_t* v, int64_t kv_stride,
                           int64_t n, const uint16_t* k_next, int64_t n_next, float* out);
void WeightedSum(const float* rows, int64_t stride, const float* w, int64_t count, int64_t n,
                 float* out);
void F32ToF16(const float* x, uint16_t* y, int64_t n);
float ExpSum(float* x, int64_t n, float shift);
void SiluMul(const float* gate, const float* up, float* out, int64_t n);
void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out);

}  // namespace aiscore::avx2

#endif  // AISCORE_AGENT_CPU_VEC_AVX2_H_
