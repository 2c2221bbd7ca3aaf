// Q6_K weights x Q8_K activations on AVX2 (+ FMA, F16C).
//
// Weight rows are the vector lanes: a tile covers 16 rows, two ymm vectors
// of 8 rows with one row per 32-bit lane. Each super-block of the 16 rows is
// unpacked once into a panel whose vector p holds quants 4p..4p+3 of 8 rows
// as bytes, q + 32 in 0..63 (8 x 8 dword transposes of ql and qh, then the
// low nibble and the high bit pair are or-ed together). vpmaddubsw
// multiplies it by the four int8 activations at 4p of one token, broadcast
// from the Q8_K block, into i16 pairs; two positions are summed in i16 (at
// most 2 * 2 * 63 * 127 = 32004, no overflow; a third could overflow) and
// vpmaddwd with the group's signed 8-bit scale widens them to int32. So the
// unpacking is paid once per 16 rows and super-block and reused over up to
// kTileCols tokens, and each lane ends up holding its row's dot product.
//
// The quants enter offset by 32, so the dot product of group j is
// sum (q + 32) a - 32 * bsums[j]; the correction, sum_j 32 sc[j] bsums[j], is
// one vpmaddwd per pair of groups with the Q8_K bsums, in int32. The f32
// scales are applied once per super-block. Decode (one or two tokens) skips
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

constexpr size_t kQlOffset = offsetof(BlockQ6_K, ql);
constexpr size_t kQhOffset = offsetof(BlockQ6_K, qh);
constexpr size_t kScalesOffset = offsetof(BlockQ6_K, scales);
constexpr size_t kDOffset = offsetof(BlockQ6_K, d);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);
constexpr size_t kActBsumsOffset = offsetof(BlockQ8_K, bsums);

// The scales of one super-block of 16 rows. Lane r of vector [h] is row 8h + r.
struct Scales {
  __m256i sc[16][2];  // [group g]: signed 8-bit scale as an i16 pair (sc, sc)
  __m256i m[8][2];    // [pair i]: 32 * scales of groups 2i and 2i + 1, i16 x 2
  __m256 d[2];        // super-block scale, f32
};

// One super-block of 16 rows, unpacked.
struct Panel {
  __m256i q[kPositions][2];  // [p]: q + 32 of quants 4p..4p+3 of each row, u8 0..63
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

// The f16 at byte `offset` of rows[0..7], as f32 lanes.
inline __m256 LoadHalves(const unsigned char* const rows[kHalfRows], size_t offset) {
  uint16_t h[kHalfRows];
  for (int r = 0; r < kHalfRows; ++r) std::memcpy(&h[r], rows[r] + offset, sizeof(uint16_t));
  return _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h)));
}

// Unpacks the scales of the super-block at byte `block` of rows[0..7] into
// half h: 16 signed bytes and the f16 d.
void LoadScales(const unsigned char* const rows[kHalfRows], size_t block, int h, Scales* s) {
  s->d[h] = LoadHalves(rows, block + kDOffset);
  __m256i v[4];
  LoadTransposed4(rows, block + kScalesOffset, v);  // byte b of v[k]: scale of group 4k + b
  for (int k = 0; k < 4; ++k) {
    for (int b = 0; b < 4; ++b) {
      s->sc[4 * k + b][h] = _mm256_srai_epi16(_mm256_shuffle_epi8(v[k], HighBytePattern(b, b)), 8);
    }
    // (sc << 8) >> 3 = 32 sc.
    s->m[2 * k][h] = _mm256_srai_epi16(_mm256_shuffle_epi8(v[k], HighBytePattern(0, 1)), 3);
    s->m[2 * k + 1][h] = _mm256_srai_epi16(_mm256_shuffle_epi8(v[k], HighBytePattern(2, 3)), 3);
  }
}

// Quants q + 32 of quarter p (0..3) of a chunk of 128, from the transposed
// ql dword (ql[64c + 32 (p % 2) + 4l..]) and qh dword (qh[32c + 4l..]) of
// position l: the nibble p / 2 of ql and bit pair p of qh shifted to bits 4-5.
inline __m256i Quants(__m256i ql, __m256i qh, int p) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m30 = _mm256_set1_epi8(0x30);
  const __m256i low =
      p < 2 ? _mm256_and_si256(ql, m4) : _mm256_and_si256(_mm256_srli_epi16(ql, 4), m4);
  // Bits 2p, 2p + 1 of each byte to bits 4, 5 (shifts by at most 4 stay in the byte).
  __m256i high;
  switch (p) {
    case 0:
      high = _mm256_slli_epi16(qh, 4);
      break;
    case 1:
      high = _mm256_slli_epi16(qh, 2);
      break;
    case 2:
      high = qh;
      break;
    default:
      high = _mm256_srli_epi16(qh, 2);
      break;
  }
  return _mm256_or_si256(low, _mm256_and_si256(high, m30));
}

void BuildPanel(const unsigned char* const rows[kRows], size_t block, Panel* p) {
  for (int h = 0; h < 2; ++h) {
    const unsigned char* const* half_rows = rows + kHalfRows * h;
    LoadScales(half_rows, block, h, &p->s);
    for (int c = 0; c < 2; ++c) {
      __m256i qh[8];
      Load8x8(half_rows, block + kQhOffset + 32 * c, qh);
      for (int odd = 0; odd < 2; ++odd) {  // quarters p = odd and odd + 2
        __m256i ql[8];
        Load8x8(half_rows, block + kQlOffset + 64 * c + 32 * odd, ql);
        for (int l = 0; l < 8; ++l) {
          p->q[32 * c + 8 * odd + l][h] = Quants(ql[l], qh[l], odd);
          p->q[32 * c + 8 * (odd + 2) + l][h] = Quants(ql[l], qh[l], odd + 2);
        }
      }
    }
  }
}

// Adds d_token * d * (sum - sum_j 32 sc[j] bsums[j]) of one token to
// acc[row], rows 8h..8h+7.
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
#pragma GCC unroll 2
    for (int i = 0; i < 4; i += 2) {  // two positions summed in i16
      const int pos = 4 * g + i;
#pragma GCC unroll 4
      for (int c = 0; c < K; ++c) {
        const __m256i x0 = Broadcast32x8(a[c] + kActQsOffset + 4 * pos);
        const __m256i x1 = Broadcast32x8(a[c] + kActQsOffset + 4 * pos + 4);
        for (int h = 0; h < 2; ++h) {
          const __m256i part = AddI16(_mm256_maddubs_epi16(p.q[pos][h], x0),
                                      _mm256_maddubs_epi16(p.q[pos + 1][h], x1));
          const __m256i scaled = _mm256_madd_epi16(part, p.s.sc[g][h]);
          sum[c][h] = pos == 0 ? scaled : AddI32(sum[c][h], scaled);
        }
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
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride;
  Scales s;
  for (int h = 0; h < 2; ++h) {
    const unsigned char* const* half_rows = rows + kHalfRows * h;
    LoadScales(half_rows, block, h, &s);
    __m256i sum[K];
    for (int c = 0; c < K; ++c) sum[c] = _mm256_setzero_si256();
    for (int ch = 0; ch < 2; ++ch) {
      __m256i qh[8];
      Load8x8(half_rows, block + kQhOffset + 32 * ch, qh);
      for (int odd = 0; odd < 2; ++odd) {
        __m256i ql[8];
        Load8x8(half_rows, block + kQlOffset + 64 * ch + 32 * odd, ql);
#pragma GCC unroll 2
        for (int hi = 0; hi < 2; ++hi) {
          const int quarter = odd + 2 * hi;
#pragma GCC unroll 4
          for (int l = 0; l < 8; l += 2) {
            const int pos = 32 * ch + 8 * quarter + l;
            const __m256i w0 = Quants(ql[l], qh[l], quarter);
            const __m256i w1 = Quants(ql[l + 1], qh[l + 1], quarter);
#pragma GCC unroll 2
            for (int c = 0; c < K; ++c) {
              const unsigned char* x = a[c] + kActQsOffset + 4 * pos;
              const __m256i part = AddI16(_mm256_maddubs_epi16(w0, Broadcast32x8(x)),
                                          _mm256_maddubs_epi16(w1, Broadcast32x8(x + 4)));
              sum[c] = AddI32(sum[c], _mm256_madd_epi16(part, s.sc[pos / 4][h]));
            }
          }
        }
      }
    }
#pragma GCC unroll 2
    for (int c = 0; c < K; ++c) Finish(s, h, sum[c], a[c], acc + kRows * c);
  }
}

// Decode prefetches (PrefetchShare, simd_helpers_x86.h) a later tile's rows.
// Which tile: Q6_K rows of 4096 or more weights are long enough that the
// driver (matmul.cc) hands out one tile per task, so with two threads taking
// turns the next tile is usually the other thread's and the one after it
// this thread's next. Prefetching that one measured 29 GB/s with the AVX-512 kernel for decode of
// 14336 x 4096 with two threads on the 2-core Zen 4 development machine (its
// memory bandwidth) against 19 GB/s for the next tile; one thread runs the
// same either way.
constexpr int kPrefetchTiles = 2;

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
    const size_t block = b * sizeof(BlockQ6_K);
    const unsigned char* act = ab + b * sizeof(BlockQ8_K);
    PrefetchShare(reinterpret_cast<uintptr_t>(wb) + kPrefetchTiles * kRows * w_stride,
                  kRows * w_stride, b, blocks);
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

extern const MatMulKernel kQ6_KAvx2Kernel = {
    Format::kQ6_K, Isa::kAvx2, ConvertActivationsQ8_KAvx2, ActivationRowBytesQ8_K, Tile,
    kRows,         kTileCols};

}  // namespace aiscore
