// AVX-512 vector primitives (compiled with -mavx512f and friends): attention,
// for decode and prefill; the rest of the table is AVX2's, whose loops are
// bound by memory or too short to gain from wider vectors.
#include <algorithm>

#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/cpu/vec_avx2.h"
#include "agent/cpu/vec_kernels.h"

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
__m512 TransposeSum16(const __m512 v[16]) {
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

// Up to kMaxDecodeWidth floats per cached row: wider heads take AVX2's path.
constexpr int64_t kMaxDecodeWidth = 256;

// Decode's scores: keys go by blocks of 16 positions, converted to f32 side
// by side (one KV head's rows are spread out by the others', so in place
// they would fight over a few L1 sets); per head, 16 accumulators (one per
// position) take the products over the head's width, and TransposeSum16
// reduces them at once.
void AttentionScores(const float* q, int64_t heads, int64_t hd, const uint16_t* k, int64_t k_stride,
                     int64_t len, float scale, float* scores) {
  if (hd % 16 != 0 || hd > kMaxDecodeWidth) {
    avx2::AttentionScores(q, heads, hd, k, k_stride, len, scale, scores);
    return;
  }
  constexpr int64_t kBlock = 16;
  alignas(64) float block[kBlock * kMaxDecodeWidth];
  const __m512 vscale = _mm512_set1_ps(scale);
  for (int64_t p0 = 0; p0 < len; p0 += kBlock) {
    const int64_t np = std::min(kBlock, len - p0);
    // The next block's rows arrive while this one computes.
    PrefetchRows(k + (p0 + np) * k_stride, 2 * k_stride, std::min(kBlock, len - p0 - np), 2 * hd);
    ConvertRows(k + p0 * k_stride, k_stride, np, kBlock, hd, block);
    for (int64_t h = 0; h < heads; ++h) {
      __m512 acc[kBlock];
      for (auto& a : acc) a = _mm512_setzero_ps();
      for (int64_t e = 0; e < hd; e += 16) {
        const __m512 qv = _mm512_loadu_ps(q + h * hd + e);
#pragma GCC unroll 16
        for (int j = 0; j < kBlock; ++j) {
          acc[j] = _mm512_fmadd_ps(qv, _mm512_load_ps(block + j * hd + e), acc[j]);
        }
      }
      _mm512_mask_storeu_ps(scores + h * len + p0, static_cast<__mmask16>((1u << np) - 1),
                            _mm512_mul_ps(vscale, TransposeSum16(acc)));
    }
  }
}

// out (NH heads, hd apart) = probs (NH rows of len) x values, C vectors of
// output columns at a time. Value rows go by blocks of 32, converted to f32
// side by side as in AttentionScores. Each output lane adds its terms in
// position order (partial sums wait in `out` between blocks).
template <int NH, int C>
void HeadValues(const float* ph, int64_t len, const uint16_t* v, int64_t v_stride, int64_t hd,
                float* oh) {
  constexpr int64_t kBlock = 32;
  alignas(64) float block[kBlock * kMaxDecodeWidth];
  std::fill(oh, oh + NH * hd, 0.0f);
  for (int64_t p0 = 0; p0 < len; p0 += kBlock) {
    const int64_t np = std::min(kBlock, len - p0);
    PrefetchRows(v + (p0 + np) * v_stride, 2 * v_stride, std::min(kBlock, len - p0 - np), 2 * hd);
    ConvertRows(v + p0 * v_stride, v_stride, np, np, hd, block);
    for (int64_t e = 0; e < hd; e += 16 * C) {
      __m512 acc[NH][C];
#pragma GCC unroll 4
      for (int h = 0; h < NH; ++h) {
#pragma GCC unroll 4
        for (int i = 0; i < C; ++i) acc[h][i] = _mm512_loadu_ps(oh + h * hd + e + 16 * i);
      }
      for (int64_t j = 0; j < np; ++j) {
        __m512 vv[C];
#pragma GCC unroll 4
        for (int i = 0; i < C; ++i) vv[i] = _mm512_load_ps(block + j * hd + e + 16 * i);
#pragma GCC unroll 4
        for (int h = 0; h < NH; ++h) {
          const __m512 w = _mm512_set1_ps(ph[h * len + p0 + j]);
#pragma GCC unroll 4
          for (int i = 0; i < C; ++i) acc[h][i] = _mm512_fmadd_ps(w, vv[i], acc[h][i]);
        }
      }
#pragma GCC unroll 4
      for (int h = 0; h < NH; ++h) {
#pragma GCC unroll 4
        for (int i = 0; i < C; ++i) _mm512_storeu_ps(oh + h * hd + e + 16 * i, acc[h][i]);
      }
    }
  }
}

// Up to four heads per pass over the values (HeadValues).
void AttentionValues(const float* probs, int64_t heads, int64_t len, const uint16_t* v,
                     int64_t v_stride, int64_t hd, float* out) {
  if (hd % 16 != 0 || hd > kMaxDecodeWidth) {
    avx2::AttentionValues(probs, heads, len, v, v_stride, hd, out);
    return;
  }
  for (int64_t h0 = 0; h0 < heads; h0 += 4) {
    const float* ph = probs + h0 * len;
    float* oh = out + h0 * hd;
    WithHeadCount(std::min<int64_t>(4, heads - h0), [&](auto nh) {
      if (hd % 64 == 0) {  // four vectors of columns at a time, else one
        HeadValues<nh(), 4>(ph, len, v, v_stride, hd, oh);
      } else {
        HeadValues<nh(), 1>(ph, len, v, v_stride, hd, oh);
      }
    });
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
    const int64_t padded = (count + kPosTile - 1) / kPosTile * kPosTile;
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
                                             .attention_scores = AttentionScores,
                                             .attention_values = AttentionValues,
                                             .attention_prefill = AttentionPrefill,
                                             .f32_to_f16 = avx2::F32ToF16,
                                             .exp_sum = avx2::ExpSum,
                                             .silu_mul = avx2::SiluMul};

}  // namespace aiscore
