// Q2_K weights x Q8_K activations on AVX2 (+ FMA, F16C).
//
// Weight rows are the vector lanes: a tile covers 16 rows, two ymm vectors
// of 8 rows with one row per 32-bit lane. Each super-block of the 16 rows is
// unpacked once into a panel whose vector p holds quants 4p..4p+3 of 8 rows
// as bytes (8 x 8 dword transposes of the packed 2-bit quants). vpmaddubsw
// multiplies it by the four int8 activations at 4p of one token, broadcast
// from the Q8_K block, into i16 pairs; the 4 positions of a group of 16 are
// summed in i16 (at most 4 * 2 * 3 * 127 = 3048) and vpmaddwd with the
// group's 4-bit scale widens them to int32. Built again for AVX-VNNI
// (kScaledPanel), the panel holds each quant times its group's scale (at most
// 45, a byte) and vpdpbusd sums the products straight into int32, with no
// work per group (prefill 4096 x 4096 x 512 on Zen 5: 27-30 ms on AVX2,
// 26-27 this way). So the unpacking is paid once per 16 rows and super-block
// and reused over up to kTileCols tokens, and each lane ends up holding its
// row's dot product.
//
// The mins term is (mins x Q8_K bsums), in int32 (MinsTerm: with AVX-VNNI
// the bsums split into bytes, on AVX2 paired as for the AVX-512 kernel); f32
// scales are applied once per super-block. Decode (one token) skips the
// panel: from a panel block, both halves of the 16 rows at once, each bit
// pair masked in place and fed to vpdpbusd on AVX-VNNI, as in the AVX-512
// kernel, or to vpmaddubsw on AVX2 (PanelDecodeBlock); from GGUF rows, each
// unpacked vector goes straight into vpmaddubsw (DirectBlock).
//
// The transposes happen on GGUF rows only: CpuBackend repacks Q2_K matrices
// into the panel layout (panel_layout.h), whose blocks hold each vector the
// kernel computes with as it lies, and PanelTile loads them directly (for
// decode, on Zen 4, 1.7x the rows' rate).
#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kRows = 16;      // weight rows per tile: two vectors of 8 lanes
constexpr int kHalfRows = 8;   // rows per vector
constexpr int kTileCols = 64;  // tokens per tile
// Tokens whose accumulators live in registers at once: on AVX2 each takes
// two i32 sums and two i16 group partials; with AVX-VNNI only the sums, so 4
// (prefill 4096 x 4096 x 512 on Zen 5: 3 tokens 27-30 ms, 4 26-27, 5 25-27,
// 6 spills: 51-54).
constexpr int kBlockCols = kAvx2FileIsa == Isa::kAvxVnni ? 4 : 3;
constexpr int kPositions = kSuperBlockSize / 4;  // 4-quant positions per super-block

constexpr size_t kQsOffset = offsetof(BlockQ2_K, qs);
constexpr size_t kDOffset = offsetof(BlockQ2_K, d);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);
constexpr size_t kActBsumsOffset = offsetof(BlockQ8_K, bsums);
static_assert(offsetof(BlockQ2_K, scales) == 0 && offsetof(BlockQ2_K, dmin) == kDOffset + 2);

// The 4-bit mins of a super-block, in kMinVectors vectors per 8 rows
// (MinsVector), kMinsPerDword from each scales dword. With AVX-VNNI, as
// bytes, one vector a scales dword (byte j: group 4k + j), for vpdpbusd
// against the activations' bsums split into bytes (SplitQ8_KBsums): four
// groups an instruction, twice. On AVX2, whose vpmaddubsw would saturate
// there, as i16 pairs (vector 2k + j: groups 4k + j and 4k + j + 2, j < 2),
// in the order of the activations' paired bsums (PairQ8_KBsums). AVX-VNNI Q2_K
// decode against the pairs by vpdpwssd, the two objects linked side by side
// in one process, each in either place (Zen 5, target-7b at d512, host fast):
// 0.4% and 4.9% less time a token; from L2 3-4% more (docs/performance.md,
// "Q2_K decode against a kernel that does no arithmetic").
constexpr int kMinVectors = kAvx2FileIsa == Isa::kAvxVnni ? 4 : 8;
constexpr int kMinsPerDword = kMinVectors / 4;

// The scales of one super-block of 16 rows. Lane r of vector [h] is row 8h + r.
struct Scales {
  __m256i sc[16][2];          // [group g]: 4-bit scale as an i16 pair (sc, sc)
  __m256i m[kMinVectors][2];  // the mins (MinsVector)
  __m256 d[2], dmin[2];       // super-block scales, f32
};

// Whether a panel holds its weights scaled (u8 q * scale, 0..45), for
// vpdpbusd to take straight into i32 lanes: with AVX-VNNI. Without it,
// vpmaddubsw sums a group's products in i16 and vpmaddwd scales them.
constexpr bool kScaledPanel = kAvx2FileIsa == Isa::kAvxVnni;

// One super-block of 16 rows, unpacked.
struct Panel {
  __m256i q[kPositions][2];  // [p]: quants 4p..4p+3 of each row, u8 0..3 (scaled: 0..45)
  Scales s;
};

// vpshufb pattern that puts, in each dword, byte b0 of that dword zero-extended
// into the low i16 and byte b1 zero-extended into the high i16.
inline __m256i BytePattern(int b0, int b1) {
  const uint32_t pattern =
      0x80008000u | static_cast<uint32_t>(b0) | static_cast<uint32_t>(b1) << 16;
  // vpshufb indexes bytes within each 128-bit lane: dword d starts at byte 4d.
  const __m256i dword_offsets = _mm256_setr_epi32(0, 0x00040004, 0x00080008, 0x000c000c, 0,
                                                  0x00040004, 0x00080008, 0x000c000c);
  return _mm256_add_epi8(_mm256_set1_epi32(static_cast<int32_t>(pattern)), dword_offsets);
}

// The i16 pair (sc, sc) of group 4k + j's 4-bit scale in each dword, from scales
// dword k with its mins masked off (low nibbles of each byte).
inline __m256i GroupScale(__m256i scale_nibbles, int j) {
  return _mm256_shuffle_epi8(scale_nibbles, BytePattern(j, j));
}

// Converts the f16 in the low (shift 0) or high (shift 16) half of each dword.
inline __m256 HalvesToFloat(__m256i v, int shift) {
  const __m256i h = _mm256_and_si256(_mm256_srli_epi32(v, shift), _mm256_set1_epi32(0xffff));
  // Pack the 8 halves into the low 128 bits (values fit, so no saturation).
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
  return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

// The nibbles at bit `shift` of bytes 0 and 2 of each dword of v, as an i16
// pair: from a scales dword (byte j: the scale of group 4k + j in the low
// nibble, its min in the high one), shift 8j gives the scales of groups 4k + j
// and 4k + j + 2, shift 8j + 4 their mins (j < 2).
inline __m256i NibblePair(__m256i v, int shift) {
  return _mm256_and_si256(shift == 0 ? v : _mm256_srli_epi32(v, shift),
                          _mm256_set1_epi32(0x000f000f));
}

// Mins vector kMinsPerDword * k + j (j < kMinsPerDword) from scales dword k.
inline __m256i MinsVector(__m256i scales_dword, int j) {
  if constexpr (kMinsPerDword == 1) {
    return _mm256_and_si256(_mm256_srli_epi32(scales_dword, 4), _mm256_set1_epi8(0x0f));
  }
  return NibblePair(scales_dword, 8 * j + 4);
}

// The mins term (mins . bsums, i32) of 8 rows: mins_at(i) gives their mins
// vector i (MinsVector), act is the token's Q8_K block, its bsums split
// (AVX-VNNI) or paired (AVX2).
template <class MinsAt>
inline __m256i MinsTerm(MinsAt mins_at, const unsigned char* act) {
  const unsigned char* bsums = act + kActBsumsOffset;
#ifdef __AVXVNNI__
  // The mins (at most 15) times the sums' high bytes (s8), and the low bytes
  // (u8) times the mins: sum = 256 x high + low.
  const unsigned char* high = bsums + kSuperBlockSize / 16;
  __m256i mins_high = _mm256_setzero_si256(), mins_low = _mm256_setzero_si256();
  for (int k = 0; k < 4; ++k) {
    const __m256i m = mins_at(k);
    mins_high = _mm256_dpbusd_avx_epi32(mins_high, m, Broadcast32x8(high + 4 * k));
    mins_low = _mm256_dpbusd_avx_epi32(mins_low, Broadcast32x8(bsums + 4 * k), m);
  }
  return _mm256_add_epi32(_mm256_slli_epi32(mins_high, 8), mins_low);
#else
  __m256i mins = _mm256_madd_epi16(mins_at(0), Broadcast32x8(bsums));
  for (int i = 1; i < kMinVectors; ++i) {
    mins = _mm256_add_epi32(mins, _mm256_madd_epi16(mins_at(i), Broadcast32x8(bsums + 4 * i)));
  }
  return mins;
#endif
}

// Fills half h of s->sc and s->m from v[k], lane r = scales dword k of row
// 8h + r.
void UnpackScales(const __m256i v[4], int h, Scales* s) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int k = 0; k < 4; ++k) {
    const __m256i sc = _mm256_and_si256(v[k], m4);
    for (int b = 0; b < 4; ++b) s->sc[4 * k + b][h] = GroupScale(sc, b);
    for (int j = 0; j < kMinsPerDword; ++j) {
      s->m[kMinsPerDword * k + j][h] = MinsVector(v[k], j);
    }
  }
}

// Where a super-block's scales and quants come from, for rows 8h..8h+7:
// LoadScales(h, s) fills half h of s; LoadQuants(h, c, v) leaves in v[l] qs dword
// 8c + l of each row, whose bit pair p holds position 32c + 8p + l, in group
// 8c + 2p + l / 4.
// - GGUF rows: the super-block at byte `block` of each row, transposed.
struct RowSource {
  const unsigned char* const* rows;  // [kRows]
  size_t block;
  // 16 bytes of 4-bit scale and min (dwords 0..3) and d, dmin (bytes 80..83).
  void LoadScales(int h, Scales* s) const {
    __m256i v[4];
    // Bytes 68..83: the last dword holds d and dmin.
    LoadTransposed4(rows + kHalfRows * h, block + kDOffset + 4 - 16, v);
    s->d[h] = HalvesToFloat(v[3], 0);
    s->dmin[h] = HalvesToFloat(v[3], 16);
    LoadTransposed4(rows + kHalfRows * h, block, v);
    UnpackScales(v, h, s);
  }
  void LoadQuants(int h, int c, __m256i v[8]) const {
    Load8x8(rows + kHalfRows * h, block + kQsOffset + 32 * c, v);
  }
};
// - A panel block (panel_layout.h): each vector loaded as it lies.
struct PanelSource {
  const unsigned char* panel;
  void LoadScales(int h, Scales* s) const {
    s->d[h] = LoadF16x8(panel + kQ2_KPanelD + 16 * h);
    s->dmin[h] = LoadF16x8(panel + kQ2_KPanelDmin + 16 * h);
    __m256i v[4];
    for (int k = 0; k < 4; ++k) v[k] = Load256(panel + kQ2_KPanelScales + 64 * k + 32 * h);
    UnpackScales(v, h, s);
  }
  void LoadQuants(int h, int c, __m256i v[8]) const {
    for (int l = 0; l < 8; ++l) v[l] = Load256(panel + kQ2_KPanelQs + 64 * (8 * c + l) + 32 * h);
  }
};

inline __m256i BitPair(__m256i v, int p) {
  return _mm256_and_si256(_mm256_srli_epi32(v, 2 * p), _mm256_set1_epi8(3));
}

template <class Source>
void BuildPanel(const Source& source, Panel* p) {
  for (int h = 0; h < 2; ++h) {
    source.LoadScales(h, &p->s);
    for (int c = 0; c < 2; ++c) {
      __m256i v[8];
      source.LoadQuants(h, c, v);
      for (int l = 0; l < 8; ++l) {
        for (int pair = 0; pair < 4; ++pair) {
          const int pos = 32 * c + 8 * pair + l;
          p->q[pos][h] = BitPair(v[l], pair);
          if constexpr (kScaledPanel) {
            // q * scale <= 45 fits a byte, so vpmullw on the byte pairs
            // cannot carry into the high byte.
            p->q[pos][h] = _mm256_mullo_epi16(p->q[pos][h], p->s.sc[pos / 4][h]);
          }
        }
      }
    }
  }
}

// Adds d_token * (d * sum - dmin * mins) of one token to out[row], 8 rows;
// mins = the mins . bsums of each row, act the token's Q8_K block.
inline void FinishSums(__m256i sum, __m256i mins, __m256 d, __m256 dmin, const unsigned char* act,
                       float* out) {
  const __m256 f =
      _mm256_fmsub_ps(_mm256_cvtepi32_ps(sum), d, _mm256_mul_ps(_mm256_cvtepi32_ps(mins), dmin));
  float d_token;
  std::memcpy(&d_token, act + offsetof(BlockQ8_K, d), sizeof(d_token));
  _mm256_store_ps(out, _mm256_fmadd_ps(f, _mm256_set1_ps(d_token), _mm256_load_ps(out)));
}

// Adds d_token * (d * sum - dmin * mins . bsums) of one token to acc[row],
// rows 8h..8h+7.
inline void Finish(const Scales& s, int h, __m256i sum, const unsigned char* act, float* acc) {
  const __m256i mins = MinsTerm([&](int i) { return s.m[i][h]; }, act);
  FinishSums(sum, mins, s.d[h], s.dmin[h], act, acc + kHalfRows * h);
}

// The i32 sums of PanelBlock on an unscaled panel: each group's four
// positions summed in i16 by vpmaddubsw, then scaled and widened by vpmaddwd.
template <int K>
void GroupPanelSums(const Panel& p, const unsigned char* const a[K], __m256i sum[K][2]) {
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
}

// The i32 sums of PanelBlock on a scaled panel: one vpdpbusd a position.
template <int K>
void ScaledPanelSums(const Panel& p, const unsigned char* const a[K], __m256i sum[K][2]) {
  for (int c = 0; c < K; ++c) sum[c][0] = sum[c][1] = _mm256_setzero_si256();
#pragma GCC unroll 64
  for (int pos = 0; pos < kPositions; ++pos) {
#pragma GCC unroll 4
    for (int c = 0; c < K; ++c) {
      const __m256i x = Broadcast32x8(a[c] + kActQsOffset + 4 * pos);
      for (int h = 0; h < 2; ++h) sum[c][h] = DotU8S8(sum[c][h], p.q[pos][h], x);
    }
  }
}

// Adds one super-block of K tokens to acc[token][row], from a panel. act
// points at the super-block's Q8_K block of the first token.
template <int K>
void PanelBlock(const Panel& p, const unsigned char* act, size_t a_stride, float* acc) {
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride;
  __m256i sum[K][2];
  if constexpr (kScaledPanel) {
    ScaledPanelSums<K>(p, a, sum);
  } else {
    GroupPanelSums<K>(p, a, sum);
  }
#pragma GCC unroll 4
  for (int c = 0; c < K; ++c) {
    for (int h = 0; h < 2; ++h) Finish(p.s, h, sum[c][h], a[c], acc + kRows * c);
  }
}

// The same for one token without a panel (decode): each unpacked vector goes
// straight into the dot products.
template <class Source>
void DirectBlock(const Source& source, const unsigned char* act, float* acc) {
  const unsigned char* a = act + kActQsOffset;
  Scales s;
  for (int h = 0; h < 2; ++h) {
    source.LoadScales(h, &s);
    __m256i sum = _mm256_setzero_si256();
    for (int c = 0; c < 2; ++c) {
      __m256i v[8];
      source.LoadQuants(h, c, v);
#pragma GCC unroll 2
      for (int l0 = 0; l0 < 8; l0 += 4) {
#pragma GCC unroll 4
        for (int pair = 0; pair < 4; ++pair) {
          const int g = 8 * c + 2 * pair + l0 / 4;
          __m256i part = _mm256_maddubs_epi16(BitPair(v[l0], pair), Broadcast32x8(a + 16 * g));
#pragma GCC unroll 3
          for (int i = 1; i < 4; ++i) {
            part = AddI16(part, _mm256_maddubs_epi16(BitPair(v[l0 + i], pair),
                                                     Broadcast32x8(a + 16 * g + 4 * i)));
          }
          sum = AddI32(sum, _mm256_madd_epi16(part, s.sc[g][h]));
        }
      }
    }
    Finish(s, h, sum, act, acc);
  }
}

// Scales dword k of rows 8h..8h+7 of a panel block: byte j holds group 4k +
// j's 4-bit scale (low nibble) and min (high nibble).
inline __m256i PanelScaleDword(const unsigned char* panel, int k, int h) {
  return Load256(panel + kQ2_KPanelScales + 64 * k + 32 * h);
}

// The end of PanelDecodeBlock for rows 8h..8h+7: the mins term from the scale
// dwords and the bsums (MinsTerm), then FinishSums.
inline void FinishPanelHalf(const unsigned char* panel, int h, __m256i sum,
                            const unsigned char* act, float* acc) {
  const __m256i mins = MinsTerm(
      [&](int i) {
        return MinsVector(PanelScaleDword(panel, i / kMinsPerDword, h), i % kMinsPerDword);
      },
      act);
  FinishSums(sum, mins, LoadF16x8(panel + kQ2_KPanelD + 16 * h),
             LoadF16x8(panel + kQ2_KPanelDmin + 16 * h), act, acc + kHalfRows * h);
}

#ifndef __AVXVNNI__
// Decode on a panel block with AVX2 alone, for both halves of the 16 rows at
// once so that each activation broadcast serves both (as with AVX-VNNI below).
// vpmaddubsw sums each adjacent pair of products into an i16 and saturates
// past 32767, so bit pairs 0 and 1 are masked in place (q * 4^p <= 12) and
// bit pairs 2 and 3 the same after one shift of the bytes by 4: a group's four
// positions, summed in i16, stay within 4 * 2 * 12 * 127 = 12192. vpmaddwd
// scales each group into i32. The sums of the odd bit pairs, 4 times too
// large, are kept apart and divided by 4 once at the end (exactly: each of
// their terms is a multiple of 4).
void PanelDecodeBlock(const unsigned char* panel, const unsigned char* act, float* acc) {
  const unsigned char* a = act + kActQsOffset;
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  __m256i scales[4][2];  // [k][half]: scales dword k, the mins masked off
  for (int k = 0; k < 4; ++k) {
    for (int h = 0; h < 2; ++h) {
      scales[k][h] = _mm256_and_si256(PanelScaleDword(panel, k, h), m4);
    }
  }
  __m256i sum[2][2];  // [half][bit pair odd]
  for (int h = 0; h < 2; ++h) sum[h][0] = sum[h][1] = _mm256_setzero_si256();
#pragma GCC unroll 4
  for (int quarter = 0; quarter < 4; ++quarter) {  // qs dwords 4 * quarter .. + 3
    const int c = quarter / 2, l0 = 4 * (quarter % 2);
#pragma GCC unroll 2
    for (int high = 0; high < 2; ++high) {  // bit pairs 2 * high and 2 * high + 1
      __m256i part[2][2];                   // [half][odd]: i16 pairs
#pragma GCC unroll 4
      for (int l = l0; l < l0 + 4; ++l) {
        __m256i v[2];
        for (int h = 0; h < 2; ++h) {
          v[h] = Load256(panel + kQ2_KPanelQs + 64 * (8 * c + l) + 32 * h);
          if (high) v[h] = _mm256_srli_epi16(v[h], 4);
        }
#pragma GCC unroll 2
        for (int odd = 0; odd < 2; ++odd) {
          const __m256i mask = _mm256_set1_epi8(static_cast<char>(3 << (2 * odd)));
          const __m256i x = Broadcast32x8(a + 4 * (32 * c + 8 * (2 * high + odd) + l));
          for (int h = 0; h < 2; ++h) {
            const __m256i p = _mm256_maddubs_epi16(_mm256_and_si256(v[h], mask), x);
            part[h][odd] = l == l0 ? p : AddI16(part[h][odd], p);
          }
        }
      }
      // Group 8c + 2 (2 high + odd) + quarter % 2 = 4 (2c + high) + 2 odd + quarter % 2.
#pragma GCC unroll 2
      for (int odd = 0; odd < 2; ++odd) {
        for (int h = 0; h < 2; ++h) {
          const __m256i sc = GroupScale(scales[2 * c + high][h], 2 * odd + quarter % 2);
          sum[h][odd] = AddI32(sum[h][odd], _mm256_madd_epi16(part[h][odd], sc));
        }
      }
    }
  }
  for (int h = 0; h < 2; ++h) {
    FinishPanelHalf(panel, h, _mm256_add_epi32(sum[h][0], _mm256_srai_epi32(sum[h][1], 2)), act,
                    acc);
  }
}
#else
// Decode on a panel block with AVX-VNNI, as the AVX-512 kernel's DecodeBlock
// does on zmm: each bit pair of the packed quants is masked in place (q * 4^p
// <= 192 still fits a byte; vpmaddubsw's i16 would saturate) and fed to
// vpdpbusd, for both halves of the 16 rows at once, so that each activation
// broadcast serves both. A group's sum, a multiple of 4^p, is scaled with the
// group two bit pairs on by one vpdpwssd: both sums, divided by 4^p, fit an
// i16 (|sum| <= 16 * 3 * 128) and are packed as the pair (g, g + 2), whose
// scales lie two bytes apart in their scales dword. No Panel, no vpshufb.
void PanelDecodeBlock(const unsigned char* panel, const unsigned char* act, float* acc) {
  const unsigned char* a = act + kActQsOffset;
  __m256i sum[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 4
  for (int quarter = 0; quarter < 4; ++quarter) {  // qs dwords 4 * quarter .. + 3
    const int c = quarter / 2, l0 = 4 * (quarter % 2);
    __m256i group[2][4];  // [half][pair]: groups 8c + 2 * pair + quarter % 2
    for (int h = 0; h < 2; ++h) {
      for (int pair = 0; pair < 4; ++pair) group[h][pair] = _mm256_setzero_si256();
    }
#pragma GCC unroll 4
    for (int l = l0; l < l0 + 4; ++l) {
      __m256i v[2];
      for (int h = 0; h < 2; ++h) v[h] = Load256(panel + kQ2_KPanelQs + 64 * (8 * c + l) + 32 * h);
#pragma GCC unroll 4
      for (int pair = 0; pair < 4; ++pair) {
        const __m256i mask = _mm256_set1_epi8(static_cast<char>(3 << (2 * pair)));
        const __m256i x = Broadcast32x8(a + 4 * (32 * c + 8 * pair + l));
        for (int h = 0; h < 2; ++h) {
          group[h][pair] = DotU8S8(group[h][pair], _mm256_and_si256(v[h], mask), x);
        }
      }
    }
#pragma GCC unroll 2
    for (int k = 0; k < 2; ++k) {  // bit pairs 2k and 2k + 1: groups g and g + 2
      const int g = 8 * c + 4 * k + quarter % 2;
      for (int h = 0; h < 2; ++h) {
        const __m256i lo = k == 0 ? group[h][0] : _mm256_srai_epi32(group[h][2], 4);
        // 4^(2k + 1) * sum shifted left by 16 - 2 (2k + 1): the sum in the high i16.
        const __m256i hi = _mm256_slli_epi32(group[h][2 * k + 1], 14 - 4 * k);
        const __m256i sums = _mm256_blend_epi16(lo, hi, 0xaa);
        sum[h] = DotI16(sum[h], sums, NibblePair(PanelScaleDword(panel, g / 4, h), 8 * (g % 4)));
      }
    }
  }
  for (int h = 0; h < 2; ++h) FinishPanelHalf(panel, h, sum[h], act, acc);
}
#endif

// Adds one super-block of nc tokens to acc[token][row].
template <class Source>
void Block(const Source& source, const unsigned char* act, size_t a_stride, int nc, Panel* panel,
           float* acc) {
  if (nc == 1) {
    if constexpr (std::is_same_v<Source, PanelSource>) {
      PanelDecodeBlock(source.panel, act, acc);
      return;
    }
    DirectBlock(source, act, acc);
    return;
  }
  BuildPanel(source, panel);
  ForTokenBlocks<kBlockCols>(nc, [&](auto k, int c) {
    PanelBlock<k()>(*panel, act + c * a_stride, a_stride, acc + kRows * c);
  });
}

// The pass both tiles make over the super-blocks: source_of(b) is where
// super-block b comes from. On rows, the next tile's 16 rows (wb + 16 *
// w_stride) are prefetched as this one goes; on a panel (wb, read as one
// stream), the bytes kStreamPrefetchAhead on (Zen 5, target-7b --isa avx2
// at d512, host slow: 71-73% of the probe with the next panel prefetched,
// 82-83% this way).
template <class SourceOf>
void SourceTile(SourceOf source_of, int64_t cols, const unsigned char* wb, size_t w_stride, int nr,
                const unsigned char* ab, size_t a_stride, int nc, float* out, size_t out_stride) {
  alignas(32) float acc[kTileCols * kRows];  // [token][row], tokens < nc
  std::fill_n(acc, kRows * nc, 0.0f);
  Panel panel;
  const int64_t blocks = cols / kSuperBlockSize;
  for (int64_t b = 0; b < blocks; ++b) {
    if constexpr (std::is_same_v<decltype(source_of(b)), PanelSource>) {  // one stream
      PrefetchAhead(wb + b * kRows * sizeof(BlockQ2_K), kRows * sizeof(BlockQ2_K));
    } else {  // the next tile's 16 rows
      PrefetchShare(reinterpret_cast<uintptr_t>(wb) + kRows * w_stride, kRows * w_stride, b,
                    blocks);
    }
    Block(source_of(b), ab + b * sizeof(BlockQ8_K), a_stride, nc, &panel, acc);
  }
  for (int c = 0; c < nc; ++c)
    std::memcpy(out + c * out_stride, acc + kRows * c, nr * sizeof(float));
}

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  // Rows past nr repeat the last row; their lanes are computed and dropped.
  const unsigned char* rows[kRows];
  for (int r = 0; r < kRows; ++r) rows[r] = wb + std::min(r, nr - 1) * w_stride;
  SourceTile(
      [&](int64_t b) {
        return RowSource{rows, b * sizeof(BlockQ2_K)};
      },
      cols, wb, w_stride, nr, static_cast<const unsigned char*>(a), a_stride, nc, out, out_stride);
}

// The same on 16 rows repacked as a panel (panel_layout.h): w points at the
// panel, nr == kRows.
void PanelTile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
               int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  SourceTile([&](int64_t b) { return PanelSource{wb + b * kRows * sizeof(BlockQ2_K)}; }, cols, wb,
             w_stride, nr, static_cast<const unsigned char*>(a), a_stride, nc, out, out_stride);
}

void ConvertActivations(const float* x, int64_t cols, void* out) {
  ConvertActivationsQ8_KAvx2(x, cols, out);
  if constexpr (kMinsPerDword == 1) {
    SplitQ8_KBsums(out, cols);
  } else {
    PairQ8_KBsums(out, cols);
  }
}

}  // namespace

extern const MatMulKernel AISCORE_AVX2_KERNEL(Q2_K) = {
    .format = Format::kQ2_K,
    .isa = kAvx2FileIsa,
    .convert_activations = ConvertActivations,
    .activation_row_bytes = ActivationRowBytesQ8_K,
    .tile = Tile,
    .tile_rows = kRows,
    .tile_cols = kTileCols,
    .panel_tile = PanelTile};

}  // namespace aiscore
