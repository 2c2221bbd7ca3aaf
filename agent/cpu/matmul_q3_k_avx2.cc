// Q3_K weights x Q8_K activations on AVX2 (+ FMA, F16C).
//
// Weight rows are the vector lanes: a tile covers 16 rows, two ymm vectors
// of 8 rows with one row per 32-bit lane. Each super-block of the 16 rows is
// unpacked once into a panel whose vector p holds quants 4p..4p+3 of 8 rows
// as bytes, q + 4 in 0..7 (8 x 8 dword transposes of qs and hmask, then the
// bit pair and the high bit are or-ed together). vpmaddubsw multiplies it
// by the four int8 activations at 4p of one token, broadcast from the Q8_K
// block, into i16 pairs; the 4 positions of a group of 16 are summed in i16
// (at most 4 * 2 * 7 * 127 = 7112) and vpmaddwd with the group's signed
// 6-bit scale widens them to int32. So the unpacking is paid once per 16
// rows and super-block and reused over up to kTileCols tokens, and each lane
// ends up holding its row's dot product.
//
// The quants enter offset by 4, so the dot product of group j is
// sum (q + 4) a - 4 * bsums[j]; the correction, sum_j 4 sc[j] bsums[j], is
// one vpmaddwd per pair of groups with the Q8_K bsums, in int32. The f32
// scale is applied once per super-block. Decode (one or two tokens) skips
// the panel and feeds each unpacked vector straight into the dot products,
// while the next tile's rows are prefetched.
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kRows = 16;       // weight rows per tile: two vectors of 8 lanes
constexpr int kHalfRows = 8;    // rows per vector
constexpr int kTileCols = 64;   // tokens per tile
constexpr int kBlockCols = 3;   // tokens whose accumulators live in registers at once
constexpr int kDirectCols = 2;  // up to this many tokens, skip the panel (decode)
constexpr int kPositions = kSuperBlockSize / 4;  // 4-quant positions per super-block

constexpr size_t kHmaskOffset = offsetof(BlockQ3_K, hmask);
constexpr size_t kQsOffset = offsetof(BlockQ3_K, qs);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);
constexpr size_t kActBsumsOffset = offsetof(BlockQ8_K, bsums);
// The 12 scale bytes and d are the last 14 bytes of the block.
static_assert(offsetof(BlockQ3_K, scales) + kQ3KScaleBytes == offsetof(BlockQ3_K, d) &&
              offsetof(BlockQ3_K, d) + 2 == sizeof(BlockQ3_K));
constexpr size_t kHeaderOffset = sizeof(BlockQ3_K) - 16;

// The scales of one super-block of 16 rows. Lane r of vector [h] is row 8h + r.
struct Scales {
  __m256i sc[16][2];  // [group g]: signed 6-bit scale as an i16 pair (sc, sc)
  __m256i m[8][2];    // [pair i]: 4 * scales of groups 2i and 2i + 1, i16 x 2
  __m256 d[2];        // super-block scale, f32
};

// One super-block of 16 rows, unpacked.
struct Panel {
  __m256i q[kPositions][2];  // [p]: q + 4 of quants 4p..4p+3 of each row, u8 0..7
  Scales s;
};

// vpshufb pattern that puts, in each dword, byte b0 of that dword into the
// high byte of the low i16 and byte b1 into the high byte of the high i16,
// with zero low bytes: an arithmetic shift right by 8 then sign-extends them.
inline __m256i HighBytePattern(int b0, int b1) {
  const uint32_t pattern =
      0x00800080u | static_cast<uint32_t>(b0) << 8 | static_cast<uint32_t>(b1) << 24;
  // vpshufb indexes bytes within each 128-bit lane: dword d starts at byte 4d.
  // (Adding to the 0x80 bytes keeps their top bit, so they still give zero.)
  const __m256i dword_offsets = _mm256_setr_epi32(0, 0x04040404, 0x08080808, 0x0c0c0c0c, 0,
                                                  0x04040404, 0x08080808, 0x0c0c0c0c);
  return _mm256_add_epi8(_mm256_set1_epi32(static_cast<int32_t>(pattern)), dword_offsets);
}

// Converts the f16 in the low half of each dword.
inline __m256 LowHalvesToFloat(__m256i v) {
  const __m256i h = _mm256_and_si256(v, _mm256_set1_epi32(0xffff));
  // Pack the 8 halves into the low 128 bits (values fit, so no saturation).
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
  return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

// Unpacks the scales of the super-block at byte `block` of rows[0..7] into
// half h: sixteen 6-bit codes (scale + 32) packed in 12 bytes, and the f16 d.
void LoadScales(const unsigned char* const rows[kHalfRows], size_t block, int h, Scales* s) {
  // The last 16 bytes of each block, moved down two bytes within the row's
  // 128-bit lane (z[g] holds rows g and 4 + g), so that an in-lane 4 x 4
  // transpose leaves: v[0], v[1] scales[0..7]; v[2] scales[8..11]; v[3] d.
  __m256i z[4];
  for (int g = 0; g < 4; ++g) {
    z[g] = _mm256_srli_si256(
        _mm256_inserti128_si256(_mm256_castsi128_si256(Load128(rows[g] + block + kHeaderOffset)),
                                Load128(rows[4 + g] + block + kHeaderOffset), 1),
        2);
  }
  const __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]);
  const __m256i t1 = _mm256_unpackhi_epi32(z[0], z[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]);
  const __m256i t3 = _mm256_unpackhi_epi32(z[2], z[3]);
  const __m256i v0 = _mm256_unpacklo_epi64(t0, t2);
  const __m256i v1 = _mm256_unpackhi_epi64(t0, t2);
  const __m256i v2 = _mm256_unpacklo_epi64(t1, t3);
  s->d[h] = LowHalvesToFloat(_mm256_unpackhi_epi64(t1, t3));
  // Byte b of code[k] is the code of group 4k + b: its low four bits are
  // nibble k / 2 of scales[4 (k % 2) + b], its high two bits are bit pair k
  // of scales[8 + b] (shifts of at most 4 stay within the byte).
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  const __m256i bias = _mm256_set1_epi8(32);
  const __m256i code[4] = {
      _mm256_or_si256(_mm256_and_si256(v0, m4), _mm256_and_si256(_mm256_slli_epi16(v2, 4), m30)),
      _mm256_or_si256(_mm256_and_si256(v1, m4), _mm256_and_si256(_mm256_slli_epi16(v2, 2), m30)),
      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v0, 4), m4), _mm256_and_si256(v2, m30)),
      _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(v1, 4), m4),
                      _mm256_and_si256(_mm256_srli_epi16(v2, 2), m30)),
  };
  for (int k = 0; k < 4; ++k) {
    const __m256i scale = _mm256_sub_epi8(code[k], bias);  // signed bytes, -32..31
    for (int b = 0; b < 4; ++b) {
      s->sc[4 * k + b][h] = _mm256_srai_epi16(_mm256_shuffle_epi8(scale, HighBytePattern(b, b)), 8);
    }
    // (sc << 8) >> 6 = 4 sc.
    s->m[2 * k][h] = _mm256_srai_epi16(_mm256_shuffle_epi8(scale, HighBytePattern(0, 1)), 6);
    s->m[2 * k + 1][h] = _mm256_srai_epi16(_mm256_shuffle_epi8(scale, HighBytePattern(2, 3)), 6);
  }
}

// Quants q + 4 of bit pair p (0..3) of chunk c (0, 1), from the transposed
// qs dword (qs[32c + 4l..]) and hmask dword (hmask[4l..]) of position l: bit
// pair p of qs, and bit 4c + p of hmask moved to bit 2 (shifts of at most 5
// stay within the byte).
inline __m256i Quants(__m256i qs, __m256i hmask, int c, int p) {
  const __m256i low = _mm256_and_si256(_mm256_srli_epi16(qs, 2 * p), _mm256_set1_epi8(3));
  const int bit = 4 * c + p;
  const __m256i high =
      bit >= 2 ? _mm256_srli_epi16(hmask, bit - 2) : _mm256_slli_epi16(hmask, 2 - bit);
  return _mm256_or_si256(low, _mm256_and_si256(high, _mm256_set1_epi8(4)));
}

void BuildPanel(const unsigned char* const rows[kRows], size_t block, Panel* p) {
  for (int h = 0; h < 2; ++h) {
    const unsigned char* const* half_rows = rows + kHalfRows * h;
    LoadScales(half_rows, block, h, &p->s);
    __m256i hmask[8];
    Load8x8(half_rows, block + kHmaskOffset, hmask);
    for (int c = 0; c < 2; ++c) {
      __m256i qs[8];
      Load8x8(half_rows, block + kQsOffset + 32 * c, qs);
      for (int l = 0; l < 8; ++l) {
        for (int pair = 0; pair < 4; ++pair) {
          p->q[32 * c + 8 * pair + l][h] = Quants(qs[l], hmask[l], c, pair);
        }
      }
    }
  }
}

// Adds d_token * d * (sum - sum_j 4 sc[j] bsums[j]) of one token to acc[row],
// rows 8h..8h+7.
inline void Finish(const Scales& s, int h, __m256i sum, const unsigned char* act, float* acc) {
  __m256i offsets = _mm256_madd_epi16(s.m[0][h], Broadcast32x8(act + kActBsumsOffset));
  for (int i = 1; i < 8; ++i) {
    offsets = _mm256_add_epi32(
        offsets, _mm256_madd_epi16(s.m[i][h], Broadcast32x8(act + kActBsumsOffset + 4 * i)));
  }
  const __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(sum, offsets)), s.d[h]);
  float d;
  std::memcpy(&d, act + offsetof(BlockQ8_K, d), sizeof(d));
  float* out = acc + kHalfRows * h;
  _mm256_store_ps(out, _mm256_fmadd_ps(f, _mm256_set1_ps(d), _mm256_load_ps(out)));
}

// Adds one super-block of K tokens to acc[token][row], from a panel. act
// points at the super-block's Q8_K block of the first token.
template <int K>
void PanelBlock(const Panel& p, const unsigned char* act, size_t a_stride, float* acc) {
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride;
  __m256i sum[K][2];
#pragma GCC unroll 16
  for (int g = 0; g < 16; ++g) {
    __m256i part[K][2];  // i16 pairs
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const __m256i w0 = p.q[4 * g + i][0];
      const __m256i w1 = p.q[4 * g + i][1];
#pragma GCC unroll 4
      for (int c = 0; c < K; ++c) {
        const __m256i x = Broadcast32x8(a[c] + kActQsOffset + 16 * g + 4 * i);
        const __m256i p0 = _mm256_maddubs_epi16(w0, x);
        const __m256i p1 = _mm256_maddubs_epi16(w1, x);
        part[c][0] = i == 0 ? p0 : AddI16(part[c][0], p0);
        part[c][1] = i == 0 ? p1 : AddI16(part[c][1], p1);
      }
    }
#pragma GCC unroll 4
    for (int c = 0; c < K; ++c) {
      for (int h = 0; h < 2; ++h) {
        const __m256i scaled = _mm256_madd_epi16(part[c][h], p.s.sc[g][h]);
        sum[c][h] = g == 0 ? scaled : AddI32(sum[c][h], scaled);
      }
    }
  }
#pragma GCC unroll 4
  for (int c = 0; c < K; ++c) {
    for (int h = 0; h < 2; ++h) Finish(p.s, h, sum[c][h], a[c], acc + kRows * c);
  }
}

// The same for K <= kDirectCols tokens without a panel (decode): each
// unpacked vector goes straight into the dot products.
template <int K>
void DirectBlock(const unsigned char* const rows[kRows], size_t block, const unsigned char* act,
                 size_t a_stride, float* acc) {
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride + kActQsOffset;
  Scales s;
  for (int h = 0; h < 2; ++h) {
    const unsigned char* const* half_rows = rows + kHalfRows * h;
    LoadScales(half_rows, block, h, &s);
    __m256i hmask[8];
    Load8x8(half_rows, block + kHmaskOffset, hmask);
    __m256i sum[K];
    for (int c = 0; c < K; ++c) sum[c] = _mm256_setzero_si256();
    for (int ch = 0; ch < 2; ++ch) {
      __m256i qs[8];
      Load8x8(half_rows, block + kQsOffset + 32 * ch, qs);
#pragma GCC unroll 2
      for (int l0 = 0; l0 < 8; l0 += 4) {
#pragma GCC unroll 4
        for (int pair = 0; pair < 4; ++pair) {
          const int g = 8 * ch + 2 * pair + l0 / 4;
          __m256i part[K];
#pragma GCC unroll 4
          for (int i = 0; i < 4; ++i) {
            const __m256i w = Quants(qs[l0 + i], hmask[l0 + i], ch, pair);
#pragma GCC unroll 2
            for (int c = 0; c < K; ++c) {
              const __m256i pr = _mm256_maddubs_epi16(w, Broadcast32x8(a[c] + 16 * g + 4 * i));
              part[c] = i == 0 ? pr : AddI16(part[c], pr);
            }
          }
#pragma GCC unroll 2
          for (int c = 0; c < K; ++c) {
            sum[c] = AddI32(sum[c], _mm256_madd_epi16(part[c], s.sc[g][h]));
          }
        }
      }
    }
#pragma GCC unroll 2
    for (int c = 0; c < K; ++c) Finish(s, h, sum[c], a[c] - kActQsOffset, acc + kRows * c);
  }
}

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  // Rows past nr repeat the last row; their lanes are computed and dropped.
  const unsigned char* rows[kRows];
  for (int r = 0; r < kRows; ++r) rows[r] = wb + std::min(r, nr - 1) * w_stride;
  alignas(32) float acc[kTileCols * kRows];  // [token][row], tokens < nc
  std::fill_n(acc, kRows * nc, 0.0f);
  Panel panel;
  const int64_t blocks = cols / kSuperBlockSize;
  for (int64_t b = 0; b < blocks; ++b) {
    const size_t block = b * sizeof(BlockQ3_K);
    const unsigned char* act = ab + b * sizeof(BlockQ8_K);
    PrefetchShare(reinterpret_cast<uintptr_t>(wb) + kRows * w_stride, kRows * w_stride, b, blocks);
    static_assert(kDirectCols == 2);
    if (nc <= kDirectCols) {
      (nc == 1 ? DirectBlock<1> : DirectBlock<2>)(rows, block, act, a_stride, acc);
      continue;
    }
    BuildPanel(rows, block, &panel);
    ForTokenBlocks<kBlockCols>(nc, [&](auto k, int c) {
      PanelBlock<k()>(panel, act + c * a_stride, a_stride, acc + kRows * c);
    });
  }
  for (int c = 0; c < nc; ++c)
    std::memcpy(out + c * out_stride, acc + kRows * c, nr * sizeof(float));
}

}  // namespace

extern const MatMulKernel kQ3_KAvx2Kernel = {
    Format::kQ3_K, Isa::kAvx2, ConvertActivationsQ8_KAvx2, ActivationRowBytesQ8_K, Tile,
    kRows,         kTileCols};

}  // namespace aiscore
