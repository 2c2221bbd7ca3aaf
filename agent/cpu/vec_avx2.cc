// AVX2 + F16C vector primitives (compiled with -mavx2 -mfma -mf16c).
#include "agent/cpu/vec_avx2.h"

#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "agent/cpu/simd_helpers_x86.h"
#include "agent/cpu/vec_kernels.h"
#include "agent/engine/align.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

// q_h . k for NH query heads (at qh, hd apart) and one key row k: each
// key vector is converted once and multiplied into every head's sum.
template <int NH>
void RowScores(const float* qh, int64_t hd, const uint16_t* k, float* sums) {
  const int64_t body = hd / 8 * 8;
  __m256 acc[NH];
  for (int h = 0; h < NH; ++h) acc[h] = _mm256_setzero_ps();
  for (int64_t e = 0; e < body; e += 8) {
    const __m256 kv = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(k + e)));
    for (int h = 0; h < NH; ++h) {
      acc[h] = _mm256_fmadd_ps(_mm256_loadu_ps(qh + h * hd + e), kv, acc[h]);
    }
  }
  for (int h = 0; h < NH; ++h) {
    float sum = HorizontalSum(acc[h]);
    for (int64_t e = body; e < hd; ++e) sum += qh[h * hd + e] * Fp16ToFp32(k[e]);
    sums[h] = sum;
  }
}

// o[h][e0 .. e0 + 16) = o * rescale[h] (0 without rescale) + sum_{p < n}
// w[h][p] * v_p[e0 ..] for NH heads (o hd apart, w kAttentionDecodeBlock apart).
template <int NH>
void ValueColumns16(const float* w, const float* rescale, int64_t hd, const uint16_t* v,
                    int64_t kv_stride, int64_t n, int64_t e0, const AttentionPrefetch& keys,
                    int64_t step, float* o) {
  __m256 acc[NH][2];
  for (int h = 0; h < NH; ++h) {
    for (int i = 0; i < 2; ++i) {
      acc[h][i] = rescale == nullptr ? _mm256_setzero_ps()
                                     : _mm256_mul_ps(_mm256_set1_ps(rescale[h]),
                                                     _mm256_loadu_ps(o + h * hd + e0 + 8 * i));
    }
  }
  const uint16_t* vp = v + e0;
  for (int64_t p = 0; p < n; ++p, vp += kv_stride) {
    keys.Step(step + p);
    const __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vp)));
    const __m256 v1 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vp + 8)));
    for (int h = 0; h < NH; ++h) {
      const __m256 wv = _mm256_broadcast_ss(w + h * kAttentionDecodeBlock + p);
      acc[h][0] = _mm256_fmadd_ps(wv, v0, acc[h][0]);
      acc[h][1] = _mm256_fmadd_ps(wv, v1, acc[h][1]);
    }
  }
  for (int h = 0; h < NH; ++h) {
    for (int i = 0; i < 2; ++i) _mm256_storeu_ps(o + h * hd + e0 + 8 * i, acc[h][i]);
  }
}

}  // namespace

namespace avx2 {

// Position by position, every KV head's query heads, up to four per pass
// (RowScores): the rows are read in order, one stream.
void AttentionDecodeScores(const float* q, int64_t kv_heads, int64_t group, int64_t hd,
                           const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t n,
                           float scale, float* scores, float* block_max) {
  const int64_t heads = kv_heads * group;
  for (int64_t h = 0; h < heads; ++h) block_max[h] = -INFINITY;
  for (int64_t p = 0; p < n; ++p) {
    const uint16_t* kp = k + p * kv_stride;
    PrefetchRows(v + p * kv_stride, 0, 1, 2 * kv_stride);
    for (int64_t g = 0; g < kv_heads; ++g) {
      for (int64_t h0 = g * group; h0 < (g + 1) * group; h0 += 4) {
        const int64_t nh = std::min<int64_t>(4, (g + 1) * group - h0);
        float sums[4];
        WithCount<4>(nh, [&](auto c) { RowScores<c()>(q + h0 * hd, hd, kp + g * hd, sums); });
        for (int64_t h = 0; h < nh; ++h) {
          const float s = scale * sums[h];
          scores[(h0 + h) * kAttentionDecodeBlock + p] = s;
          block_max[h0 + h] = std::max(block_max[h0 + h], s);
        }
      }
    }
  }
}

// Per KV head, up to four of its query heads at a time, 16 output columns at
// a time over the block's value rows (ValueColumns16), prefetching the next
// block's keys a share per row; columns past the last 16 one by one.
void AttentionDecodeValues(const float* weights, const float* rescale, int64_t kv_heads,
                           int64_t group, int64_t hd, const uint16_t* v, int64_t kv_stride,
                           int64_t n, const uint16_t* k_next, int64_t n_next, float* out) {
  const int64_t body = hd / 16 * 16;
  const AttentionPrefetch keys(k_next, 2 * kv_stride * n_next,
                               kv_heads * ((group + 3) / 4) * (body / 16) * n);
  int64_t step = 0;
  for (int64_t g = 0; g < kv_heads; ++g) {
    for (int64_t h0 = g * group; h0 < (g + 1) * group; h0 += 4) {
      const int64_t nh = std::min<int64_t>(4, (g + 1) * group - h0);
      const float* w = weights + h0 * kAttentionDecodeBlock;
      const float* r = rescale == nullptr ? nullptr : rescale + h0;
      for (int64_t e0 = 0; e0 < body; e0 += 16, step += n) {
        WithCount<4>(nh, [&](auto c) {
          ValueColumns16<c()>(w, r, hd, v + g * hd, kv_stride, n, e0, keys, step, out + h0 * hd);
        });
      }
      for (int64_t h = 0; h < nh; ++h) {
        float* o = out + (h0 + h) * hd;
        for (int64_t e = body; e < hd; ++e) {
          float sum = r == nullptr ? 0.0f : r[h] * o[e];
          for (int64_t p = 0; p < n; ++p) {
            sum += w[h * kAttentionDecodeBlock + p] * Fp16ToFp32(v[p * kv_stride + g * hd + e]);
          }
          o[e] = sum;
        }
      }
    }
  }
}

// Eight columns at a time, each summed over the rows in order.
void WeightedSum(const float* rows, int64_t stride, const float* w, int64_t count, int64_t n,
                 float* out) {
  const int64_t body = n / 8 * 8;
  for (int64_t e = 0; e < body; e += 8) {
    __m256 acc = _mm256_setzero_ps();
    for (int64_t c = 0; c < count; ++c) {
      acc = _mm256_fmadd_ps(_mm256_set1_ps(w[c]), _mm256_loadu_ps(rows + c * stride + e), acc);
    }
    _mm256_storeu_ps(out + e, acc);
  }
  for (int64_t e = body; e < n; ++e) {
    float sum = 0.0f;
    for (int64_t c = 0; c < count; ++c) sum += w[c] * rows[c * stride + e];
    out[e] = sum;
  }
}

void F32ToF16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = Fp32ToFp16(x[i]);
}

}  // namespace avx2
namespace {

// exp(x) for x in [-87.3, 88.7] (clamped outside): x = n ln2 + r with
// |r| <= ln2/2, exp(r) by its degree-7 Taylor polynomial (truncation error
// below 1e-8 there, so float rounding dominates), and 2^n by adding n to the
// exponent bits.
__m256 Exp(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.7f)), _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2, with ln2 split in two so that n * ln2_hi is exact.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

}  // namespace

float avx2::ExpSum(float* x, int64_t n, float shift) {
  const __m256 vs = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = HorizontalSum(acc);
  for (; i < n; ++i) sum += (x[i] = std::exp(x[i] - shift));
  return sum;
}

void avx2::SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(
        out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

// Four chains of four doubles: the scalar loop's one chain of dependent adds
// took about 4 cycles an element (4096 of them each norm, two norms a layer,
// while the other threads wait).
void avx2::RmsNorm(const float* x, const float* w, int64_t n, float eps, float* out) {
  __m256d acc[4] = {_mm256_setzero_pd(), _mm256_setzero_pd(), _mm256_setzero_pd(),
                    _mm256_setzero_pd()};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 4; ++j) {
      const __m256d v = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4 * j));
      acc[j] = _mm256_fmadd_pd(v, v, acc[j]);
    }
  }
  const __m256d all = _mm256_add_pd(_mm256_add_pd(acc[0], acc[1]), _mm256_add_pd(acc[2], acc[3]));
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, all);
  double sum = (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]);
  for (; i < n; ++i) sum += static_cast<double>(x[i]) * x[i];
  const float scale = static_cast<float>(1.0 / std::sqrt(sum / n + eps));
  const __m256 vs = _mm256_set1_ps(scale);
  i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(
        out + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
  }
  for (; i < n; ++i) out[i] = x[i] * scale * w[i];
}

namespace {

// Flash-style prefill attention. Rows r = t * group + h (padded to a multiple
// of 16 with zero queries, computed and dropped). Once per call the queries
// are transposed (qt[e][r], pre-scaled); then per pass of up to 64 cache
// positions j:
//   keys and values converted to f32 rows (kf[j][e], vf[j][e]),
//   st[j][r] = q_r . k_j by a 4-position x 16-row register tile,
//   masked (position > first_pos + t) and exponentiated against the rows'
//   running max, eight rows at a time (the online softmax: earlier output
//   and sum are rescaled when the max grows),
//   o[r][e] += sum_j st[j][r] * v_j by a 2-row x 32-column register tile.
// Every inner loop is FMAs on registers fed by loads from L1 and L2 (the
// block's working set, AttentionPrefillScratch, is 200 KB at hd 128); the
// next pass's keys and values are prefetched during the score tiles.
constexpr int64_t kRowTile = 16;  // rows of the score tile (two vectors)
constexpr int64_t kPosTile = 4;   // positions of the score tile
constexpr int64_t kColTile = 32;  // output columns of the value tile (four vectors)

// st[j][r0 .. r0 + 16) for j in [j0, j0 + 4): dot products of 16 transposed
// query rows with 4 key rows.
inline void ScoreTile(const float* qt, int64_t rows, const float* kf, int64_t hd, int64_t j0,
                      int64_t r0, float* st) {
  __m256 acc[kPosTile][2];
  for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
  for (int64_t e = 0; e < hd; ++e) {
    const __m256 q0 = _mm256_loadu_ps(qt + e * rows + r0);
    const __m256 q1 = _mm256_loadu_ps(qt + e * rows + r0 + 8);
    for (int64_t j = 0; j < kPosTile; ++j) {
      const __m256 kb = _mm256_broadcast_ss(kf + (j0 + j) * hd + e);
      acc[j][0] = _mm256_fmadd_ps(kb, q0, acc[j][0]);
      acc[j][1] = _mm256_fmadd_ps(kb, q1, acc[j][1]);
    }
  }
  for (int64_t j = 0; j < kPosTile; ++j) {
    _mm256_storeu_ps(st + (j0 + j) * rows + r0, acc[j][0]);
    _mm256_storeu_ps(st + (j0 + j) * rows + r0 + 8, acc[j][1]);
  }
}

// o[r][e0 .. e0 + 32) = o * rescale[r] + sum_{j < len} p[j][r] * vf[j] for
// R rows from r0.
template <int R>
inline void ValueTile(const float* p, int64_t rows, const float* vf, int64_t hd, int64_t len,
                      const float* rescale, int64_t r0, int64_t e0, float* o) {
  __m256 acc[R][4];
  for (int r = 0; r < R; ++r) {
    const __m256 c = _mm256_broadcast_ss(rescale + r0 + r);
    for (int i = 0; i < 4; ++i) {
      acc[r][i] = _mm256_mul_ps(c, _mm256_loadu_ps(o + (r0 + r) * hd + e0 + 8 * i));
    }
  }
  for (int64_t j = 0; j < len; ++j) {
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(vf + j * hd + e0 + 8 * i);
    for (int r = 0; r < R; ++r) {
      const __m256 pb = _mm256_broadcast_ss(p + j * rows + r0 + r);
      for (int i = 0; i < 4; ++i) acc[r][i] = _mm256_fmadd_ps(pb, v[i], acc[r][i]);
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int i = 0; i < 4; ++i) _mm256_storeu_ps(o + (r0 + r) * hd + e0 + 8 * i, acc[r][i]);
  }
}

// Rows [0, count) of f16 `src` (stride halves apart) as f32 rows of hd,
// and rows [count, padded) zero.
inline void ConvertRows(const uint16_t* src, int64_t stride, int64_t count, int64_t padded,
                        int64_t hd, float* dst) {
  for (int64_t j = 0; j < count; ++j) {
    for (int64_t e = 0; e < hd; e += 8) {
      _mm256_storeu_ps(
          dst + j * hd + e,
          _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + j * stride + e))));
    }
  }
  std::fill(dst + count * hd, dst + padded * hd, 0.0f);
}

void AttentionPrefill(const float* q, int64_t q_stride, int64_t n, int64_t group, int64_t hd,
                      const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t first_pos,
                      float scale, float* out, float* scratch) {
  AttentionPrefillBlock b =
      BeginAttentionPrefill(q, q_stride, n, group, hd, first_pos, scale, kRowTile, scratch);
  const int64_t rows = b.rows, real_rows = b.real_rows;
  float *const qt = b.qt, *const o = b.o, *const kf = b.kf, *const vf = b.vf, *const st = b.st;
  float *const row_max = b.row_max, *const row_sum = b.row_sum, *const rescale = b.rescale;

  const int64_t len = first_pos + n;
  for (int64_t p0 = 0; p0 < len; p0 += kAttentionPrefillPositions) {
    const int64_t count = std::min(kAttentionPrefillPositions, len - p0);
    const int64_t padded = AlignUp(count, kPosTile);
    ConvertRows(k + p0 * kv_stride, kv_stride, count, padded, hd, kf);
    ConvertRows(v + p0 * kv_stride, kv_stride, count, padded, hd, vf);
    // The next pass's rows arrive while this one computes, a score tile's
    // worth per score tile.
    const int64_t next = std::min(kAttentionPrefillPositions, len - p0 - count);
    for (int64_t j0 = 0; j0 < padded; j0 += kPosTile) {
      PrefetchPassShare(k, v, kv_stride, hd, p0 + count, next, j0, kPosTile);
      for (int64_t r0 = 0; r0 < rows; r0 += kRowTile) ScoreTile(qt, rows, kf, hd, j0, r0, st);
    }
    // Mask, running max, exponentials and sums, eight rows at a time. Row 0
    // sees the fewest positions (first_pos + 1): passes that end there need
    // no mask.
    const bool masked = p0 + count - 1 > first_pos;
    for (int64_t r0 = 0; r0 < rows; r0 += 8) {
      const __m256i row_last = _mm256_load_si256(reinterpret_cast<const __m256i*>(b.last + r0));
      auto seen = [&](int64_t j) {
        return masked ? _mm256_castsi256_ps(_mm256_cmpgt_epi32(
                            row_last, _mm256_set1_epi32(static_cast<int32_t>(p0 + j - 1))))
                      : _mm256_castsi256_ps(_mm256_set1_epi32(-1));
      };
      __m256 tile_max = _mm256_set1_ps(kAttentionMasked);
      for (int64_t j = 0; j < count; ++j) {
        tile_max =
            _mm256_max_ps(tile_max, _mm256_blendv_ps(_mm256_set1_ps(kAttentionMasked),
                                                     _mm256_loadu_ps(st + j * rows + r0), seen(j)));
      }
      const __m256 old_max = _mm256_loadu_ps(row_max + r0);
      const __m256 new_max = _mm256_max_ps(old_max, tile_max);
      const __m256 c = Exp(_mm256_sub_ps(old_max, new_max));
      __m256 sum = _mm256_setzero_ps();
      for (int64_t j = 0; j < count; ++j) {
        const __m256 e = _mm256_and_ps(
            seen(j), Exp(_mm256_sub_ps(_mm256_loadu_ps(st + j * rows + r0), new_max)));
        _mm256_storeu_ps(st + j * rows + r0, e);
        sum = _mm256_add_ps(sum, e);
      }
      _mm256_storeu_ps(row_max + r0, new_max);
      _mm256_storeu_ps(row_sum + r0, _mm256_fmadd_ps(_mm256_loadu_ps(row_sum + r0), c, sum));
      _mm256_storeu_ps(rescale + r0, c);
    }
    for (int64_t e0 = 0; e0 < hd; e0 += kColTile) {
      int64_t r0 = 0;
      for (; r0 + 2 <= real_rows; r0 += 2)
        ValueTile<2>(st, rows, vf, hd, count, rescale, r0, e0, o);
      if (r0 < real_rows) ValueTile<1>(st, rows, vf, hd, count, rescale, r0, e0, o);
    }
  }
  for (int64_t r = 0; r < real_rows; ++r) {
    const __m256 inv = _mm256_set1_ps(1.0f / row_sum[r]);
    float* dst = out + (r / group) * q_stride + (r % group) * hd;
    for (int64_t e = 0; e < hd; e += 8) {
      _mm256_storeu_ps(dst + e, _mm256_mul_ps(inv, _mm256_loadu_ps(o + r * hd + e)));
    }
  }
}

}  // namespace

extern const VecKernels kAvx2VecKernels = {.isa = Isa::kAvx2,
                                           .attention_decode_scores = avx2::AttentionDecodeScores,
                                           .attention_decode_values = avx2::AttentionDecodeValues,
                                           .weighted_sum = avx2::WeightedSum,
                                           .attention_prefill = AttentionPrefill,
                                           .f32_to_f16 = avx2::F32ToF16,
                                           .exp_sum = avx2::ExpSum,
                                           .silu_mul = avx2::SiluMul,
                                           .rms_norm = avx2::RmsNorm};

}  // namespace aiscore
