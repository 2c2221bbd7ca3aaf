// AVX-512 vector primitives (compiled with -mavx512f and friends): attention,
// for decode and prefill, and its softmax's exp_sum; the rest of the table is
// AVX2's, whose loops are bound by memory or too short to gain from wider
// vectors.
#include <algorithm>
#include <cmath>

#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/cpu/vec_avx2.h"
#include "agent/cpu/vec_kernels.h"
#include "agent/engine/align.h"

namespace aiscore {
namespace {

// exp(x), the AVX2 Exp's method and accuracy on 16 lanes: x = n ln2 + r with
// |r| <= ln2/2 (x clamped to [-87.3, 88.7]), exp(r) by its degree-7 Taylor
// polynomial, 2^n added to the exponent bits.
__m512 Exp(__m512 x) {
  x = _mm512_max_ps(_mm512_min_ps(x, _mm512_set1_ps(88.7f)), _mm512_set1_ps(-87.3f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.0f / 5040);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 720));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 120));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 24));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f / 6));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(0.5f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.0f));
  const __m512i e = _mm512_slli_epi32(_mm512_cvtps_epi32(n), 23);
  return _mm512_castsi512_ps(_mm512_add_epi32(_mm512_castps_si512(p), e));
}

// exp_sum on 16 lanes; the last partial vector masked. N: n where known at
// compile time, else 0. A whole decode block's row is compiled with its
// length known (the loop unrolled, the masks constant): 4 heads' rows took
// 194 cycles in the loop, 160 unrolled (Zen 5, from L1).
template <int64_t N>
float ExpSumOf(float* x, int64_t n, float shift) {
  if constexpr (N > 0) n = N;
  const __m512 vs = _mm512_set1_ps(shift);
  __m512 acc = _mm512_setzero_ps();
#pragma GCC unroll 4
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vs));
    _mm512_mask_storeu_ps(x + i, m, e);
    acc = _mm512_mask_add_ps(acc, m, acc, e);
  }
  return _mm512_reduce_add_ps(acc);
}

float ExpSum(float* x, int64_t n, float shift) {
  return n == kAttentionDecodeBlock ? ExpSumOf<kAttentionDecodeBlock>(x, n, shift)
                                    : ExpSumOf<0>(x, n, shift);
}

// silu_mul on 16 lanes; the last partial vector masked. (Decode's 14336
// values took 5-6 us a layer on AVX2's 8 lanes, the other thread waiting.)
void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = static_cast<__mmask16>(n - i >= 16 ? 0xffff : (1u << (n - i)) - 1);
    const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
    const __m512 e = Exp(_mm512_sub_ps(_mm512_setzero_ps(), g));
    _mm512_mask_storeu_ps(
        out + i, m,
        _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), _mm512_maskz_loadu_ps(m, up + i)));
  }
}

// Rows [0, count) of f16 `src` (stride halves apart) as f32 rows of hd,
// and rows [count, padded) zero.
inline void ConvertRows(const uint16_t* src, int64_t stride, int64_t count, int64_t padded,
                        int64_t hd, float* dst) {
  for (int64_t j = 0; j < count; ++j) {
    for (int64_t e = 0; e < hd; e += 16) {
      _mm512_storeu_ps(dst + j * hd + e,
                       _mm512_cvtph_ps(_mm256_loadu_si256(
                           reinterpret_cast<const __m256i*>(src + j * stride + e))));
    }
  }
  std::fill(dst + count * hd, dst + padded * hd, 0.0f);
}

// Lane j = the sum of v[j]'s lanes, for 16 vectors: halves, then quarters,
// then pairs of lanes are added across vectors (24 shuffles and 15 adds
// instead of 16 separate reductions), and one permutation restores the order.
inline __attribute__((always_inline)) __m512 TransposeSum16(const __m512 v[16]) {
  __m512 b[8], c[4], d[2];
  for (int i = 0; i < 8; ++i) {  // b[i]: 128-bit lanes [v[i] x2, v[i + 8] x2]
    b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[i], v[i + 8], 0x44),
                         _mm512_shuffle_f32x4(v[i], v[i + 8], 0xee));
  }
  for (int i = 0; i < 4; ++i) {  // c[i]: lanes [v[i], v[i + 8], v[i + 4], v[i + 12]]
    c[i] = _mm512_add_ps(_mm512_shuffle_f32x4(b[i], b[i + 4], 0x88),
                         _mm512_shuffle_f32x4(b[i], b[i + 4], 0xdd));
  }
  for (int i = 0; i < 2; ++i) {  // d[i]: per lane, two halves of c[i]'s and c[i + 2]'s
    d[i] = _mm512_add_ps(_mm512_unpacklo_ps(c[i], c[i + 2]), _mm512_unpackhi_ps(c[i], c[i + 2]));
  }
  const __m512 sums = _mm512_add_ps(_mm512_shuffle_ps(d[0], d[1], _MM_SHUFFLE(1, 0, 1, 0)),
                                    _mm512_shuffle_ps(d[0], d[1], _MM_SHUFFLE(3, 2, 3, 2)));
  // sums holds v[0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15]'s sums.
  return _mm512_permutexvar_ps(
      _mm512_setr_epi32(0, 2, 1, 3, 8, 10, 9, 11, 4, 6, 5, 7, 12, 14, 13, 15), sums);
}

// Lane 4h + j: q_h . k_j for NH <= 4 query heads (at qh, hd apart) and
// four key rows (k0, then k0 + s1, s2, s3 halves): per 16 columns, four
// conversions feed 4 * NH multiply-adds, and one TransposeSum16 reduces the
// sixteen sums at once. HD: hd where known at compile time (the loop
// unrolled), else 0.
template <int NH, int HD>
inline __m512 QuadScores(const float* qh, int64_t hd, const uint16_t* k0, int64_t s1, int64_t s2,
                         int64_t s3) {
  if constexpr (HD > 0) hd = HD;
  __m512 acc[16];
  for (auto& a : acc) a = _mm512_setzero_ps();
#pragma GCC unroll 8
  for (int64_t e = 0; e < hd; e += 16) {
    const uint16_t* const rows[4] = {k0 + e, k0 + s1 + e, k0 + s2 + e, k0 + s3 + e};
    __m512 kv[4];
#pragma GCC unroll 4
    for (int j = 0; j < 4; ++j) {
      kv[j] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(rows[j])));
    }
#pragma GCC unroll 4
    for (int h = 0; h < NH; ++h) {
      const __m512 qv = _mm512_loadu_ps(qh + h * hd + e);
#pragma GCC unroll 4
      for (int j = 0; j < 4; ++j) acc[4 * h + j] = _mm512_fmadd_ps(qv, kv[j], acc[4 * h + j]);
    }
  }
  return TransposeSum16(acc);
}

// Scores of NH <= 4 query heads (at qh) of one KV head over the block's n
// key rows (k: the head's part of the first), four positions at a time, and
// each head's max, kept in a register as they go. The first set of heads
// (values non-null) also prefetches the block's value rows, a quad's rows per
// quad. Positions past n repeat row n - 1, whose scores are stored (within
// the block's rows) and ignored; its score is real, so the max holds.
template <int NH, int HD>
void HeadScores(const float* qh, int64_t hd, const uint16_t* k, int64_t kv_stride, int64_t n,
                const uint16_t* v, __m512 vscale, float* scores, float* block_max) {
  __m512 max = _mm512_set1_ps(-INFINITY);
  for (int64_t p = 0; p < n; p += 4) {
    if (v != nullptr) {
      AttentionPrefetch(v + p * kv_stride, 2 * kv_stride * std::min<int64_t>(4, n - p), 1).Step(0);
    }
    const int64_t last = n - 1 - p;  // rows past it repeat it
    const __m512 s =
        _mm512_mul_ps(vscale, QuadScores<NH, HD>(qh, hd, k + p * kv_stride,
                                                 std::min<int64_t>(1, last) * kv_stride,
                                                 std::min<int64_t>(2, last) * kv_stride,
                                                 std::min<int64_t>(3, last) * kv_stride));
    max = _mm512_max_ps(max, s);
    // Lanes 4h .. 4h + 3 go to head h's row at p.
#pragma GCC unroll 4
    for (int h = 0; h < NH; ++h) {
      _mm512_mask_storeu_ps(scores + h * kAttentionDecodeBlock + p - 4 * h,
                            static_cast<__mmask16>(0xf << (4 * h)), s);
    }
  }
  // Lane 4h: the max of lanes 4h .. 4h + 3.
  max = _mm512_max_ps(max, _mm512_permute_ps(max, _MM_SHUFFLE(2, 3, 0, 1)));
  max = _mm512_max_ps(max, _mm512_permute_ps(max, _MM_SHUFFLE(1, 0, 3, 2)));
  alignas(64) float lanes[16];
  _mm512_store_ps(lanes, max);
  for (int h = 0; h < NH; ++h) block_max[h] = lanes[4 * h];
}

// KV head by KV head, each one's query heads four at a time (HeadScores).
// Decode's runs have one KV head, whose block rows are then read in order,
// one stream, which the hardware prefetchers follow (prefetching them in
// software as well read less: Zen 5); the first four heads prefetch the
// block's values. Head widths 64 and 128 have their loops unrolled at
// compile time (Zen 5, 64 positions of 4 heads of 128 from L1: 1410 cycles
// against 1715; CpuBackend::Attention at 512 and 2048 positions from DRAM,
// alternated in one process, 2.5% and 2% less time).
template <int HD>
void DecodeScores(const float* q, int64_t kv_heads, int64_t group, int64_t hd, const uint16_t* k,
                  const uint16_t* v, int64_t kv_stride, int64_t n, float scale, float* scores,
                  float* block_max) {
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t g = 0; g < kv_heads; ++g) {
    for (int64_t h0 = g * group; h0 < (g + 1) * group; h0 += 4) {
      WithCount<4>(std::min<int64_t>(4, (g + 1) * group - h0), [&](auto c) {
        HeadScores<c(), HD>(q + h0 * hd, hd, k + g * hd, kv_stride, n, h0 == 0 ? v : nullptr,
                            vscale, scores + h0 * kAttentionDecodeBlock, block_max + h0);
      });
    }
  }
}

void AttentionDecodeScores(const float* q, int64_t kv_heads, int64_t group, int64_t hd,
                           const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t n,
                           float scale, float* scores, float* block_max) {
  if (hd == 128) {
    DecodeScores<128>(q, kv_heads, group, hd, k, v, kv_stride, n, scale, scores, block_max);
  } else if (hd == 64) {
    DecodeScores<64>(q, kv_heads, group, hd, k, v, kv_stride, n, scale, scores, block_max);
  } else if (hd % 16 == 0) {
    DecodeScores<0>(q, kv_heads, group, hd, k, v, kv_stride, n, scale, scores, block_max);
  } else {
    avx2::AttentionDecodeScores(q, kv_heads, group, hd, k, v, kv_stride, n, scale, scores,
                                block_max);
  }
}

// o[h][e0 .. e0 + 16 * C) = o * rescale[h] (0 without rescale) + sum_{p < n}
// w[h][p] * v_p[e0 ..] for NH heads (o hd apart, w kAttentionDecodeBlock
// apart): 4 * C accumulators, C conversions per row.
template <int NH, int C>
void ValueColumns(const float* w, const float* rescale, int64_t hd, const uint16_t* v,
                  int64_t kv_stride, int64_t n, int64_t e0, const AttentionPrefetch& keys,
                  int64_t step, float* o) {
  __m512 acc[NH][C];
#pragma GCC unroll 4
  for (int h = 0; h < NH; ++h) {
#pragma GCC unroll 4
    for (int i = 0; i < C; ++i) {
      acc[h][i] = rescale == nullptr ? _mm512_setzero_ps()
                                     : _mm512_mul_ps(_mm512_set1_ps(rescale[h]),
                                                     _mm512_loadu_ps(o + h * hd + e0 + 16 * i));
    }
  }
  const uint16_t* vp = v + e0;
  for (int64_t p = 0; p < n; ++p, vp += kv_stride) {
    keys.Step(step + p);
    __m512 vv[C];
#pragma GCC unroll 4
    for (int i = 0; i < C; ++i) {
      vv[i] = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(vp + 16 * i)));
    }
#pragma GCC unroll 4
    for (int h = 0; h < NH; ++h) {
      const __m512 wv = _mm512_set1_ps(w[h * kAttentionDecodeBlock + p]);
#pragma GCC unroll 4
      for (int i = 0; i < C; ++i) acc[h][i] = _mm512_fmadd_ps(wv, vv[i], acc[h][i]);
    }
  }
#pragma GCC unroll 4
  for (int h = 0; h < NH; ++h) {
#pragma GCC unroll 4
    for (int i = 0; i < C; ++i) _mm512_storeu_ps(o + h * hd + e0 + 16 * i, acc[h][i]);
  }
}

// Per KV head, up to four of its query heads at a time, 64 output columns
// at a time (16 where hd % 64 != 0) over the block's value rows (from cache,
// prefetched by the scores), while the next block's keys are prefetched a
// share per row.
void AttentionDecodeValues(const float* weights, const float* rescale, int64_t kv_heads,
                           int64_t group, int64_t hd, const uint16_t* v, int64_t kv_stride,
                           int64_t n, const uint16_t* k_next, int64_t n_next, float* out) {
  if (hd % 16 != 0) {
    avx2::AttentionDecodeValues(weights, rescale, kv_heads, group, hd, v, kv_stride, n, k_next,
                                n_next, out);
    return;
  }
  const int64_t columns = hd % 64 == 0 ? 64 : 16;
  const int64_t passes = kv_heads * ((group + 3) / 4) * (hd / columns);
  const AttentionPrefetch keys(k_next, 2 * kv_stride * n_next, passes * n);
  int64_t step = 0;
  for (int64_t g = 0; g < kv_heads; ++g) {
    for (int64_t h0 = g * group; h0 < (g + 1) * group; h0 += 4) {
      const float* w = weights + h0 * kAttentionDecodeBlock;
      const float* r = rescale == nullptr ? nullptr : rescale + h0;
      WithCount<4>(std::min<int64_t>(4, (g + 1) * group - h0), [&](auto c) {
        for (int64_t e0 = 0; e0 < hd; e0 += columns, step += n) {
          if (columns == 64) {
            ValueColumns<c(), 4>(w, r, hd, v + g * hd, kv_stride, n, e0, keys, step, out + h0 * hd);
          } else {
            ValueColumns<c(), 1>(w, r, hd, v + g * hd, kv_stride, n, e0, keys, step, out + h0 * hd);
          }
        }
      });
    }
  }
}

// Flash-style prefill attention, as the AVX2 kernel (vec_avx2.cc) computes
// it, with tiles sized for 32 registers of 16 lanes:
//   st[j][r] = q_r . k_j by an 8-position x 32-row tile (16 accumulators;
//     each key element is a broadcast operand of its FMAs),
//   the mask, online softmax and sums 16 rows at a time (no mask on passes
//     that every row sees whole),
//   o[r][e] += sum_j st[j][r] * v_j by a 6-row x 64-column tile (24
//     accumulators, 4 value vectors; 32 columns where hd % 64 != 0).
constexpr int64_t kRowVector = 16;  // rows per vector of scores
constexpr int64_t kPosTile = 8;     // positions of the score tile
constexpr int kValueRows = 6;       // rows of the full value tile

// st[j][r0 .. r0 + 16 * RV) for j in [j0, j0 + 8).
template <int RV>
inline void ScoreTile(const float* qt, int64_t rows, const float* kf, int64_t hd, int64_t j0,
                      int64_t r0, float* st) {
  __m512 acc[kPosTile][RV];
#pragma GCC unroll 8
  for (int j = 0; j < kPosTile; ++j) {
#pragma GCC unroll 4
    for (int i = 0; i < RV; ++i) acc[j][i] = _mm512_setzero_ps();
  }
  const float* kj = kf + j0 * hd;
  for (int64_t e = 0; e < hd; ++e) {
    __m512 qv[RV];
#pragma GCC unroll 4
    for (int i = 0; i < RV; ++i) qv[i] = _mm512_loadu_ps(qt + e * rows + r0 + kRowVector * i);
#pragma GCC unroll 8
    for (int j = 0; j < kPosTile; ++j) {
      const __m512 kb = _mm512_set1_ps(kj[j * hd + e]);
#pragma GCC unroll 4
      for (int i = 0; i < RV; ++i) acc[j][i] = _mm512_fmadd_ps(kb, qv[i], acc[j][i]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < kPosTile; ++j) {
#pragma GCC unroll 4
    for (int i = 0; i < RV; ++i) {
      _mm512_storeu_ps(st + (j0 + j) * rows + r0 + kRowVector * i, acc[j][i]);
    }
  }
}

// o[r][e0 .. e0 + 16 * C) = o * rescale[r] + sum_{j < len} p[j][r] * vf[j]
// for R rows from r0.
template <int R, int C>
inline void ValueTile(const float* p, int64_t rows, const float* vf, int64_t hd, int64_t len,
                      const float* rescale, int64_t r0, int64_t e0, float* o) {
  __m512 acc[R][C];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const __m512 c = _mm512_set1_ps(rescale[r0 + r]);
#pragma GCC unroll 4
    for (int i = 0; i < C; ++i) {
      acc[r][i] = _mm512_mul_ps(c, _mm512_loadu_ps(o + (r0 + r) * hd + e0 + 16 * i));
    }
  }
  for (int64_t j = 0; j < len; ++j) {
    __m512 vv[C];
#pragma GCC unroll 4
    for (int i = 0; i < C; ++i) vv[i] = _mm512_loadu_ps(vf + j * hd + e0 + 16 * i);
    const float* pj = p + j * rows + r0;
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m512 pb = _mm512_set1_ps(pj[r]);
#pragma GCC unroll 4
      for (int i = 0; i < C; ++i) acc[r][i] = _mm512_fmadd_ps(pb, vv[i], acc[r][i]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 4
    for (int i = 0; i < C; ++i) _mm512_storeu_ps(o + (r0 + r) * hd + e0 + 16 * i, acc[r][i]);
  }
}

// The value tiles of rows [0, real_rows) over columns [e0, e0 + 16 * C).
template <int C>
void ValueColumns(const float* p, int64_t rows, int64_t real_rows, const float* vf, int64_t hd,
                  int64_t len, const float* rescale, int64_t e0, float* o) {
  int64_t r0 = 0;
  for (; r0 + kValueRows <= real_rows; r0 += kValueRows) {
    ValueTile<kValueRows, C>(p, rows, vf, hd, len, rescale, r0, e0, o);
  }
  switch (real_rows - r0) {
    case 5:
      ValueTile<5, C>(p, rows, vf, hd, len, rescale, r0, e0, o);
      break;
    case 4:
      ValueTile<4, C>(p, rows, vf, hd, len, rescale, r0, e0, o);
      break;
    case 3:
      ValueTile<3, C>(p, rows, vf, hd, len, rescale, r0, e0, o);
      break;
    case 2:
      ValueTile<2, C>(p, rows, vf, hd, len, rescale, r0, e0, o);
      break;
    case 1:
      ValueTile<1, C>(p, rows, vf, hd, len, rescale, r0, e0, o);
      break;
    default:
      break;
  }
}

void AttentionPrefill(const float* q, int64_t q_stride, int64_t n, int64_t group, int64_t hd,
                      const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t first_pos,
                      float scale, float* out, float* scratch) {
  AttentionPrefillBlock b =
      BeginAttentionPrefill(q, q_stride, n, group, hd, first_pos, scale, kRowVector, scratch);
  const int64_t rows = b.rows;
  const int64_t len = first_pos + n;
  for (int64_t p0 = 0; p0 < len; p0 += kAttentionPrefillPositions) {
    const int64_t count = std::min(kAttentionPrefillPositions, len - p0);
    const int64_t padded = AlignUp(count, kPosTile);
    ConvertRows(k + p0 * kv_stride, kv_stride, count, padded, hd, b.kf);
    ConvertRows(v + p0 * kv_stride, kv_stride, count, padded, hd, b.vf);
    // The next pass's rows arrive while this one computes, a score tile's
    // worth per score tile.
    const int64_t next = std::min(kAttentionPrefillPositions, len - p0 - count);
    for (int64_t j0 = 0; j0 < padded; j0 += kPosTile) {
      PrefetchPassShare(k, v, kv_stride, hd, p0 + count, next, j0, kPosTile);
      int64_t r0 = 0;
      for (; r0 + 2 * kRowVector <= rows; r0 += 2 * kRowVector) {
        ScoreTile<2>(b.qt, rows, b.kf, hd, j0, r0, b.st);
      }
      if (r0 < rows) ScoreTile<1>(b.qt, rows, b.kf, hd, j0, r0, b.st);
    }
    // Row 0 sees the fewest positions (first_pos + 1): passes that end
    // there need no mask.
    const bool masked = p0 + count - 1 > first_pos;
    for (int64_t r0 = 0; r0 < rows; r0 += kRowVector) {
      const __m512i row_last = _mm512_loadu_si512(b.last + r0);
      auto seen = [&](int64_t j) -> __mmask16 {
        return masked ? _mm512_cmpgt_epi32_mask(row_last,
                                                _mm512_set1_epi32(static_cast<int32_t>(p0 + j - 1)))
                      : static_cast<__mmask16>(0xffff);
      };
      float* sr = b.st + r0;
      __m512 tile_max = _mm512_set1_ps(kAttentionMasked);
      for (int64_t j = 0; j < count; ++j) {
        const __m512 s = _mm512_mask_blend_ps(seen(j), _mm512_set1_ps(kAttentionMasked),
                                              _mm512_loadu_ps(sr + j * rows));
        tile_max = _mm512_max_ps(tile_max, s);
      }
      const __m512 old_max = _mm512_loadu_ps(b.row_max + r0);
      const __m512 new_max = _mm512_max_ps(old_max, tile_max);
      const __m512 c = Exp(_mm512_sub_ps(old_max, new_max));
      __m512 sum = _mm512_setzero_ps();
      for (int64_t j = 0; j < count; ++j) {
        const __m512 e = _mm512_maskz_mov_ps(
            seen(j), Exp(_mm512_sub_ps(_mm512_loadu_ps(sr + j * rows), new_max)));
        _mm512_storeu_ps(sr + j * rows, e);
        sum = _mm512_add_ps(sum, e);
      }
      _mm512_storeu_ps(b.row_max + r0, new_max);
      _mm512_storeu_ps(b.row_sum + r0, _mm512_fmadd_ps(_mm512_loadu_ps(b.row_sum + r0), c, sum));
      _mm512_storeu_ps(b.rescale + r0, c);
    }
    if (hd % 64 == 0) {
      for (int64_t e0 = 0; e0 < hd; e0 += 64) {
        ValueColumns<4>(b.st, rows, b.real_rows, b.vf, hd, count, b.rescale, e0, b.o);
      }
    } else {
      for (int64_t e0 = 0; e0 < hd; e0 += 32) {
        ValueColumns<2>(b.st, rows, b.real_rows, b.vf, hd, count, b.rescale, e0, b.o);
      }
    }
  }
  for (int64_t r = 0; r < b.real_rows; ++r) {
    const __m512 inv = _mm512_set1_ps(1.0f / b.row_sum[r]);
    float* dst = out + (r / group) * q_stride + (r % group) * hd;
    for (int64_t e = 0; e < hd; e += 16) {
      _mm512_storeu_ps(dst + e, _mm512_mul_ps(inv, _mm512_loadu_ps(b.o + r * hd + e)));
    }
  }
}

}  // namespace

extern const VecKernels kAvx512VecKernels = {.isa = Isa::kAvx512,
                                             .attention_decode_scores = AttentionDecodeScores,
                                             .attention_decode_values = AttentionDecodeValues,
                                             .weighted_sum = avx2::WeightedSum,
                                             .attention_prefill = AttentionPrefill,
                                             .f32_to_f16 = avx2::F32ToF16,
                                             .exp_sum = ExpSum,
                                             .silu_mul = SiluMul,
                                             .rms_norm = avx2::RmsNorm};

}  // namespace aiscore
