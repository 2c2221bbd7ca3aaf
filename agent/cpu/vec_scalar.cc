// Portable vector primitives, and the per-ISA choice among the tables.
#include <algorithm>
#include <cmath>
#include <vector>

#include "agent/cpu/vec_kernels.h"
#include "agent/engine/align.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

void AttentionDecodeScores(const float* q, int64_t kv_heads, int64_t group, int64_t hd,
                           const uint16_t* k, const uint16_t*, int64_t kv_stride, int64_t n,
                           float scale, float* scores, float* block_max) {
  const int64_t heads = kv_heads * group;
  for (int64_t h = 0; h < heads; ++h) block_max[h] = -INFINITY;
  for (int64_t p = 0; p < n; ++p) {
    for (int64_t h = 0; h < heads; ++h) {
      const uint16_t* kp = k + p * kv_stride + (h / group) * hd;
      float sum = 0.0f;
      for (int64_t e = 0; e < hd; ++e) sum += q[h * hd + e] * Fp16ToFp32(kp[e]);
      const float s = sum * scale;
      scores[h * kAttentionDecodeBlock + p] = s;
      block_max[h] = std::max(block_max[h], s);
    }
  }
}

void AttentionDecodeValues(const float* weights, const float* rescale, int64_t kv_heads,
                           int64_t group, int64_t hd, const uint16_t* v, int64_t kv_stride,
                           int64_t n, const uint16_t*, int64_t, float* out) {
  const int64_t heads = kv_heads * group;
  for (int64_t h = 0; h < heads; ++h) {
    float* o = out + h * hd;
    for (int64_t e = 0; e < hd; ++e) o[e] = rescale == nullptr ? 0.0f : rescale[h] * o[e];
    for (int64_t p = 0; p < n; ++p) {
      const float w = weights[h * kAttentionDecodeBlock + p];
      const uint16_t* vp = v + p * kv_stride + (h / group) * hd;
      for (int64_t e = 0; e < hd; ++e) o[e] += w * Fp16ToFp32(vp[e]);
    }
  }
}

void WeightedSum(const float* rows, int64_t stride, const float* w, int64_t count, int64_t n,
                 float* out) {
  std::fill(out, out + n, 0.0f);
  for (int64_t c = 0; c < count; ++c) {
    for (int64_t e = 0; e < n; ++e) out[e] += w[c] * rows[c * stride + e];
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

void RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
  for (int64_t i = 0; i < n; ++i) out[i] = x[i] * scale * w[i];
}

}  // namespace

void AttentionMerge(const VecKernels& vk, const float* parts, int64_t count, int64_t heads,
                    int64_t hd, float* out) {
  // Partial c's max and sum of head h, as AttentionDecodePart lays them out.
  const int64_t stride = AttentionDecodePartFloats(heads, hd);
  std::vector<float> w(count);
  for (int64_t h = 0; h < heads; ++h) {
    const float* max_of = parts + heads * hd + h;
    const float* sum_of = parts + heads * (hd + 1) + h;
    float max = -INFINITY;
    for (int64_t c = 0; c < count; ++c) max = std::max(max, max_of[c * stride]);
    float sum = 0.0f;
    for (int64_t c = 0; c < count; ++c) {
      w[c] = std::exp(max_of[c * stride] - max);
      sum += w[c] * sum_of[c * stride];
    }
    for (float& x : w) x /= sum;
    vk.weighted_sum(parts + h * hd, stride, w.data(), count, hd, out + h * hd);
  }
}

void AttentionDecodeRun(const VecKernels& vk, const float* q, int64_t kv_heads, int64_t group,
                        int64_t hd, const uint16_t* k, const uint16_t* v, int64_t kv_stride,
                        int64_t len, const uint16_t* k_after, float scale, float* scratch,
                        float* part) {
  const int64_t heads = kv_heads * group;
  float* scores = scratch;
  float* block_max = scores + heads * kAttentionDecodeBlock;
  float* rescale = block_max + heads;
  const AttentionDecodePart r = AttentionDecodePartAt(part, heads, hd);
  for (int64_t b = 0; b < len; b += kAttentionDecodeBlock) {
    const int64_t n = std::min(kAttentionDecodeBlock, len - b);
    const int64_t at = b * kv_stride;
    vk.attention_decode_scores(q, kv_heads, group, hd, k + at, v + at, kv_stride, n, scale, scores,
                               block_max);
    for (int64_t h = 0; h < heads; ++h) {
      const float max = b == 0 ? block_max[h] : std::max(r.max[h], block_max[h]);
      const float sum = vk.exp_sum(scores + h * kAttentionDecodeBlock, n, max);
      if (b == 0) {
        r.sum[h] = sum;
      } else {
        rescale[h] = max == r.max[h] ? 1.0f : std::exp(r.max[h] - max);
        r.sum[h] = r.sum[h] * rescale[h] + sum;
      }
      r.max[h] = max;
    }
    // The next block of this run, or, past its end, k_after.
    vk.attention_decode_values(scores, b == 0 ? nullptr : rescale, kv_heads, group, hd, v + at,
                               kv_stride, n, b + n < len ? k + at + n * kv_stride : k_after,
                               kAttentionDecodeBlock, r.out);
  }
}

AttentionPrefillBlock BeginAttentionPrefill(const float* q, int64_t q_stride, int64_t n,
                                            int64_t group, int64_t hd, int64_t first_pos,
                                            float scale, int64_t row_tile, float* scratch) {
  AttentionPrefillBlock b;
  b.real_rows = n * group;
  b.rows = AlignUp(b.real_rows, row_tile);
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
                                             .attention_decode_scores = AttentionDecodeScores,
                                             .attention_decode_values = AttentionDecodeValues,
                                             .weighted_sum = WeightedSum,
                                             .attention_prefill = nullptr,
                                             .f32_to_f16 = F32ToF16,
                                             .exp_sum = ExpSum,
                                             .silu_mul = SiluMul,
                                             .rms_norm = RmsNorm};

const VecKernels& BestVecKernels(Isa isa) {
#ifdef AISCORE_HAVE_X86_KERNELS
  if (isa == Isa::kAvx512 && IsaSupported(Isa::kAvx512)) return kAvx512VecKernels;
  if (isa != Isa::kScalar && IsaSupported(Isa::kAvx2)) return kAvx2VecKernels;
#endif
  return kScalarVecKernels;
}

}  // namespace aiscore
