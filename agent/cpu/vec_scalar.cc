// Portable vector primitives, and the per-ISA choice among the tables.
#include <algorithm>
#include <cmath>

#include "agent/cpu/vec_kernels.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

void AttentionScores(const float* q, int64_t heads, int64_t hd, const uint16_t* k, int64_t k_stride,
                     int64_t len, float scale, float* scores) {
  for (int64_t p = 0; p < len; ++p) {
    const uint16_t* kp = k + p * k_stride;
    for (int64_t h = 0; h < heads; ++h) {
      float sum = 0.0f;
      for (int64_t e = 0; e < hd; ++e) sum += q[h * hd + e] * Fp16ToFp32(kp[e]);
      scores[h * len + p] = sum * scale;
    }
  }
}

void AttentionValues(const float* probs, int64_t heads, int64_t len, const uint16_t* v,
                     int64_t v_stride, int64_t hd, float* out) {
  std::fill(out, out + heads * hd, 0.0f);
  for (int64_t p = 0; p < len; ++p) {
    const uint16_t* vp = v + p * v_stride;
    for (int64_t h = 0; h < heads; ++h) {
      const float w = probs[h * len + p];
      for (int64_t e = 0; e < hd; ++e) out[h * hd + e] += w * Fp16ToFp32(vp[e]);
    }
  }
}

void F32ToF16(const float* x, uint16_t* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = Fp32ToFp16(x[i]);
}

float ExpSum(float* x, int64_t n, float shift) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += (x[i] = std::exp(x[i] - shift));
  return static_cast<float>(sum);
}

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace

extern const VecKernels kScalarVecKernels = {.isa = Isa::kScalar,
                                             .attention_scores = AttentionScores,
                                             .attention_values = AttentionValues,
                                             .attention_prefill = nullptr,
                                             .f32_to_f16 = F32ToF16,
                                             .exp_sum = ExpSum,
                                             .silu_mul = SiluMul};

const VecKernels& BestVecKernels(Isa isa) {
#ifdef AISCORE_HAVE_X86_KERNELS
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return kAvx2VecKernels;
#endif
  return kScalarVecKernels;
}

}  // namespace aiscore
