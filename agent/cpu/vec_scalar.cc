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

AttentionPrefillBlock BeginAttentionPrefill(const float* q, int64_t q_stride, int64_t n,
                                            int64_t group, int64_t hd, int64_t first_pos,
                                            float scale, int64_t row_tile, float* scratch) {
  AttentionPrefillBlock b;
  b.real_rows = n * group;
  b.rows = (b.real_rows + row_tile - 1) / row_tile * row_tile;
  b.qt = scratch;
  b.o = b.qt + kAttentionPrefillRows * hd;
  b.kf = b.o + kAttentionPrefillRows * hd;
  b.vf = b.kf + kAttentionPrefillPositions * hd;
  b.st = b.vf + kAttentionPrefillPositions * hd;
  b.row_max = b.st + kAttentionPrefillPositions * kAttentionPrefillRows;
  b.row_sum = b.row_max + kAttentionPrefillRows;
  b.rescale = b.row_sum + kAttentionPrefillRows;
  for (int64_t r = 0; r < b.rows; ++r) {
    const int64_t t = std::min(r / group, n - 1);
    for (int64_t e = 0; e < hd; ++e) {
      b.qt[e * b.rows + r] =
          r < b.real_rows ? scale * q[t * q_stride + (r % group) * hd + e] : 0.0f;
    }
    b.last[r] = static_cast<int32_t>(first_pos + t);
    b.row_max[r] = kAttentionMasked;
    b.row_sum[r] = 0.0f;
  }
  std::fill(b.o, b.o + b.rows * hd, 0.0f);
  return b;
}

extern const VecKernels kScalarVecKernels = {.isa = Isa::kScalar,
                                             .attention_scores = AttentionScores,
                                             .attention_values = AttentionValues,
                                             .attention_prefill = nullptr,
                                             .f32_to_f16 = F32ToF16,
                                             .exp_sum = ExpSum,
                                             .silu_mul = SiluMul};

const VecKernels& BestVecKernels(Isa isa) {
#ifdef AISCORE_HAVE_X86_KERNELS
  if (isa == Isa::kAvx512 && IsaSupported(Isa::kAvx512)) return kAvx512VecKernels;
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return kAvx2VecKernels;
#endif
  return kScalarVecKernels;
}

}  // namespace aiscore
