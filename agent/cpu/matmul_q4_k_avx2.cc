// Q4_K weights x Q8_K activations on AVX2 (+ FMA, F16C).
//
// Weight rows are the vector lanes: a tile covers 16 rows, two ymm vectors
// of 8 rows with one row per 32-bit lane. Each super-block of the 16 rows is
// unpacked once into a panel whose vector p holds quants 4p..4p+3 of 8 rows
// as bytes (8 x 8 dword transposes of the packed nibbles). vpmaddubsw
// multiplies it by the four int8 activations at 4p of one token, broadcast
// from the Q8_K block, into i16 pairs; the 8 positions of a sub-block of 32
// are summed in i16 (at most 8 * 2 * 15 * 127 = 30480, no overflow) and
// vpmaddwd with the sub-block's 6-bit scale widens them to int32. So the
// unpacking is paid once per 16 rows and super-block and reused over up to
// kTileCols tokens, and each lane ends up holding its row's dot product.
//
// The mins term is (mins x pair sums of the Q8_K bsums), in int32; f32 scales
// are applied once per super-block. Decode (one or two tokens) skips the
// panel and feeds each transposed vector straight into the dot products.
//
// The transposes happen on GGUF rows only (RowSource, the next tile's rows
// prefetched as a tile goes): CpuBackend repacks Q4_K matrices into the
// panel layout (panel_layout.h, the AVX-512 kernel's), where each pair of
// vectors lies as the kernel computes with it, and PanelTile loads them as
// one stream (PanelSource). Zen 5, 2 threads, decode: 2048 x 4096 from
// cache 46-55 GiB/s on rows, 78-79 on panels; target-7b at d512 with the
// host fast, 63-64% of the probe on rows, 80-81% on panels
// (docs/performance.md).
//
// Built again for AVX-VNNI, vpdpbusd sums a sub-block's products straight
// into int32 and vpmulld scales them: prefill (DotPanelSums) and decode on a
// panel (PanelDecodeBlock, the AVX-512 kernel's decode on ymm halves; one
// core from L2 40-41 -> 46 GiB/s on Zen 5).
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

constexpr int kRows = 16;       // weight rows per tile: two vectors of 8 lanes
constexpr int kHalfRows = 8;    // rows per vector
constexpr int kTileCols = 64;   // tokens per tile
constexpr int kBlockCols = 3;   // tokens whose accumulators live in registers at once
constexpr int kDirectCols = 2;  // up to this many tokens, skip the panel (decode)
constexpr int kPositions = kSuperBlockSize / 4;  // 4-quant positions per super-block
// Half a panel block's bytes: decode prefetches its stream a half at a time.
constexpr size_t kHalfBlock = kRows * sizeof(BlockQ4_K) / 2;

constexpr size_t kQsOffset = offsetof(BlockQ4_K, qs);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);

// The scales of one super-block of 16 rows. Lane r of vector [h] is row 8h + r.
struct Scales {
  __m256i sc[8][2];      // [sub-block j]: 6-bit scale as an i16 pair (sc, sc)
  __m256i m[4][2];       // [pair i]: 6-bit mins of sub-blocks 2i, 2i+1, i16 x 2
  __m256 d[2], dmin[2];  // super-block scales, f32
};

// One super-block of 16 rows, unpacked.
struct Panel {
  __m256i q[kPositions][2];  // [p]: quants 4p..4p+3 of each row, u8 0..15
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

// Converts the f16 in the low (shift 0) or high (shift 16) half of each dword.
inline __m256 HalvesToFloat(__m256i v, int shift) {
  const __m256i h = _mm256_and_si256(_mm256_srli_epi32(v, shift), _mm256_set1_epi32(0xffff));
  // Pack the 8 halves into the low 128 bits (values fit, so no saturation).
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(h, h), 0x08);
  return _mm256_cvtph_ps(_mm256_castsi256_si128(packed));
}

// Unpacks a super-block's header of 8 rows, transposed: lane r of hd holds
// row 8h + r's d and dmin, of s0, s1, s2 its 12 bytes of 6-bit scales and
// mins.
inline __attribute__((always_inline)) void UnpackScales(const __m256i v[4], Scales* s, int h) {
  const __m256i hd = v[0], s0 = v[1], s1 = v[2], s2 = v[3];
  s->d[h] = HalvesToFloat(hd, 0);
  s->dmin[h] = HalvesToFloat(hd, 16);
  // Byte k of these holds the scale (min) of sub-block k (lo) and 4 + k (hi).
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const __m256i m6 = _mm256_set1_epi8(0x3f);
  const __m256i top2 = _mm256_set1_epi8(0x30);
  const __m256i sc_lo = _mm256_and_si256(s0, m6);
  const __m256i min_lo = _mm256_and_si256(s1, m6);
  const __m256i sc_hi =
      _mm256_or_si256(_mm256_and_si256(s2, m4), _mm256_and_si256(_mm256_srli_epi32(s0, 2), top2));
  const __m256i min_hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi32(s2, 4), m4),
                                         _mm256_and_si256(_mm256_srli_epi32(s1, 2), top2));
  for (int j = 0; j < 4; ++j) {
    s->sc[j][h] = _mm256_shuffle_epi8(sc_lo, BytePattern(j, j));
    s->sc[j + 4][h] = _mm256_shuffle_epi8(sc_hi, BytePattern(j, j));
  }
  s->m[0][h] = _mm256_shuffle_epi8(min_lo, BytePattern(0, 1));
  s->m[1][h] = _mm256_shuffle_epi8(min_lo, BytePattern(2, 3));
  s->m[2][h] = _mm256_shuffle_epi8(min_hi, BytePattern(0, 1));
  s->m[3][h] = _mm256_shuffle_epi8(min_hi, BytePattern(2, 3));
}

// Where a super-block's scales and quants come from, transposed, for rows
// 8h .. 8h + 7 (lane r: row 8h + r): HeaderOf(b, h, v) leaves in v[u] dword
// u of super-block b's header (u < 4: d and dmin, then the 6-bit scales and
// mins); QuantsOf(b, h, c, v) leaves in v[l] its qs dword 8c + l, which
// holds positions 16c + l (low nibbles) and 16c + 8 + l (high nibbles).
// - GGUF rows: transposed on every pass.
struct RowSource {
  const unsigned char* const* rows;  // kRows of them
  void HeaderOf(int64_t b, int h, __m256i v[4]) const {
    LoadTransposed4(rows + kHalfRows * h, b * sizeof(BlockQ4_K), v);
  }
  void QuantsOf(int64_t b, int h, int c, __m256i v[8]) const {
    Load8x8(rows + kHalfRows * h, b * sizeof(BlockQ4_K) + kQsOffset + 32 * c, v);
  }
};
// - A panel (panel_layout.h; the AVX-512 kernel's too): loaded as they lie,
//   rows 8h .. 8h + 7 the half 32h of each 64-byte vector.
struct PanelSource {
  const unsigned char* panel;
  const unsigned char* Block(int64_t b) const { return panel + b * kRows * sizeof(BlockQ4_K); }
  void HeaderOf(int64_t b, int h, __m256i v[4]) const {
    for (int u = 0; u < 4; ++u) v[u] = Load256(Block(b) + 64 * u + 32 * h);
  }
  void QuantsOf(int64_t b, int h, int c, __m256i v[8]) const {
    for (int l = 0; l < 8; ++l) v[l] = Load256(Block(b) + kQ4_KPanelQs + 64 * (8 * c + l) + 32 * h);
  }
};

template <class Source>
inline __attribute__((always_inline)) void LoadScales(const Source& src, int64_t b, int h,
                                                      Scales* s) {
  __m256i v[4];
  src.HeaderOf(b, h, v);
  UnpackScales(v, s, h);
}

template <class Source>
void BuildPanel(const Source& src, int64_t b, Panel* p) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  for (int h = 0; h < 2; ++h) {
    for (int c = 0; c < 4; ++c) {
      __m256i v[8];
      src.QuantsOf(b, h, c, v);
      for (int l = 0; l < 8; ++l) {
        p->q[16 * c + l][h] = _mm256_and_si256(v[l], m4);
        p->q[16 * c + 8 + l][h] = _mm256_and_si256(_mm256_srli_epi32(v[l], 4), m4);
      }
    }
    LoadScales(src, b, h, &p->s);
  }
}

// Adds d_token * (d * sum - dmin * mins . bs8) of one token to acc[row],
// rows 8h..8h+7.
inline void Finish(const Scales& s, int h, __m256i sum, const int32_t* bs8,
                   const unsigned char* act, float* acc) {
  __m256i mins = _mm256_madd_epi16(s.m[0][h], _mm256_set1_epi32(bs8[0]));
  for (int i = 1; i < 4; ++i) {
    mins = _mm256_add_epi32(mins, _mm256_madd_epi16(s.m[i][h], _mm256_set1_epi32(bs8[i])));
  }
  const __m256 f = _mm256_fmsub_ps(_mm256_cvtepi32_ps(sum), s.d[h],
                                   _mm256_mul_ps(_mm256_cvtepi32_ps(mins), s.dmin[h]));
  float d;
  std::memcpy(&d, act + offsetof(BlockQ8_K, d), sizeof(d));
  float* out = acc + kHalfRows * h;
  _mm256_store_ps(out, _mm256_fmadd_ps(f, _mm256_set1_ps(d), _mm256_load_ps(out)));
}

// The i32 sums of PanelBlock (a[c]: token c's Q8_K quants) on AVX2: a
// sub-block's 8 positions summed in i16 by vpmaddubsw, then scaled and
// widened by vpmaddwd.
template <int K>
void GroupPanelSums(const Panel& p, const unsigned char* const a[K], __m256i sum[K][2]) {
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    __m256i part[K][2];  // i16 pairs
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      const __m256i w0 = p.q[8 * j + i][0];
      const __m256i w1 = p.q[8 * j + i][1];
#pragma GCC unroll 4
      for (int c = 0; c < K; ++c) {
        const __m256i x = Broadcast32x8(a[c] + 32 * j + 4 * i);
        const __m256i p0 = _mm256_maddubs_epi16(w0, x);
        const __m256i p1 = _mm256_maddubs_epi16(w1, x);
        part[c][0] = i == 0 ? p0 : AddI16(part[c][0], p0);
        part[c][1] = i == 0 ? p1 : AddI16(part[c][1], p1);
      }
    }
#pragma GCC unroll 4
    for (int c = 0; c < K; ++c) {
      for (int h = 0; h < 2; ++h) {
        const __m256i scaled = _mm256_madd_epi16(part[c][h], p.s.sc[j][h]);
        sum[c][h] = j == 0 ? scaled : AddI32(sum[c][h], scaled);
      }
    }
  }
}

// The same with AVX-VNNI: a sub-block's products summed into i32 by
// vpdpbusd (no i16 step), then scaled by vpmulld (a 6-bit scale times at
// most 32 * 15 * 127 fits an i32).
template <int K>
void DotPanelSums(const Panel& p, const unsigned char* const a[K], __m256i sum[K][2]) {
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    __m256i part[K][2];
    for (int c = 0; c < K; ++c) part[c][0] = part[c][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
#pragma GCC unroll 4
      for (int c = 0; c < K; ++c) {
        const __m256i x = Broadcast32x8(a[c] + 32 * j + 4 * i);
        for (int h = 0; h < 2; ++h) part[c][h] = DotU8S8(part[c][h], p.q[8 * j + i][h], x);
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256i scale = _mm256_srli_epi32(p.s.sc[j][h], 16);  // (sc, sc) -> sc
#pragma GCC unroll 4
      for (int c = 0; c < K; ++c) {
        const __m256i scaled = _mm256_mullo_epi32(part[c][h], scale);
        sum[c][h] = j == 0 ? scaled : AddI32(sum[c][h], scaled);
      }
    }
  }
}

// Adds one super-block of K tokens to acc[token][row], from a panel. act
// points at the super-block's Q8_K block of the first token; bs8 holds each
// token's sub-block sums of activations as i16 pairs.
template <int K>
void PanelBlock(const Panel& p, const unsigned char* act, size_t a_stride, const int32_t* bs8,
                float* acc) {
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride + kActQsOffset;
  __m256i sum[K][2];
  if constexpr (kAvx2FileIsa == Isa::kAvxVnni) {
    DotPanelSums<K>(p, a, sum);
  } else {
    GroupPanelSums<K>(p, a, sum);
  }
#pragma GCC unroll 4
  for (int c = 0; c < K; ++c) {
    for (int h = 0; h < 2; ++h) {
      Finish(p.s, h, sum[c][h], bs8 + 4 * c, a[c] - kActQsOffset, acc + kRows * c);
    }
  }
}

#ifdef __AVXVNNI__
// Decode (K <= kDirectCols tokens) on a panel with AVX-VNNI, as the AVX-512
// kernel's DirectBlock does on zmm: the high nibbles are masked in place (16 q
// <= 240 still fits a byte) and their sums shifted down once; each sub-block's
// products go into i32 by vpdpbusd, for both halves of the 16 rows at once
// so that each activation broadcast serves both, and vpmulld scales them.
// The second half of the block's stream prefetch (the kHalfBlock bytes at
// `stream`, where not null) goes out halfway through its quants.
template <int K>
void PanelDecodeBlock(const PanelSource& src, int64_t b, const unsigned char* act, size_t a_stride,
                      const int32_t* bs8, const unsigned char* stream, float* acc) {
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride + kActQsOffset;
  Scales s;
  for (int h = 0; h < 2; ++h) LoadScales(src, b, h, &s);
  __m256i sum[K][2];
  for (int cq = 0; cq < 4; ++cq) {  // sub-blocks 2cq (low nibbles) and 2cq + 1 (high)
    if (cq == 2 && stream != nullptr) PrefetchAhead(stream, kHalfBlock);
    __m256i sub[K][2][2];  // [token][half][low, high]
    for (int c = 0; c < K; ++c) {
      for (int h = 0; h < 2; ++h) sub[c][h][0] = sub[c][h][1] = _mm256_setzero_si256();
    }
#pragma GCC unroll 8
    for (int l = 0; l < 8; ++l) {
      const int pos = 16 * cq + l;
      __m256i lo[2], hi16[2];  // hi16: 16 x the high nibbles
      for (int h = 0; h < 2; ++h) {
        const __m256i v = Load256(src.Block(b) + kQ4_KPanelQs + 64 * (8 * cq + l) + 32 * h);
        lo[h] = _mm256_and_si256(v, m4);
        hi16[h] = _mm256_andnot_si256(m4, v);
      }
#pragma GCC unroll 2
      for (int c = 0; c < K; ++c) {
        const __m256i x_lo = Broadcast32x8(a[c] + 4 * pos);
        const __m256i x_hi = Broadcast32x8(a[c] + 4 * pos + 32);
        for (int h = 0; h < 2; ++h) {
          sub[c][h][0] = DotU8S8(sub[c][h][0], lo[h], x_lo);
          sub[c][h][1] = DotU8S8(sub[c][h][1], hi16[h], x_hi);
        }
      }
    }
    for (int h = 0; h < 2; ++h) {
      const __m256i sc_lo = _mm256_srli_epi32(s.sc[2 * cq][h], 16);  // (sc, sc) -> sc
      const __m256i sc_hi = _mm256_srli_epi32(s.sc[2 * cq + 1][h], 16);
#pragma GCC unroll 2
      for (int c = 0; c < K; ++c) {
        // The high nibbles' sums are exact multiples of 16.
        const __m256i scaled =
            _mm256_add_epi32(_mm256_mullo_epi32(sub[c][h][0], sc_lo),
                             _mm256_mullo_epi32(_mm256_srai_epi32(sub[c][h][1], 4), sc_hi));
        sum[c][h] = cq == 0 ? scaled : AddI32(sum[c][h], scaled);
      }
    }
  }
#pragma GCC unroll 2
  for (int c = 0; c < K; ++c) {
    for (int h = 0; h < 2; ++h) {
      Finish(s, h, sum[c][h], bs8 + 4 * c, a[c] - kActQsOffset, acc + kRows * c);
    }
  }
}
#endif

// The same for K <= kDirectCols tokens without a panel: each transposed quant
// vector goes straight into the dot products (decode). With AVX-VNNI, a panel
// takes PanelDecodeBlock. Where `stream` is not null (a panel, read as one
// stream), the second half of the block's stream prefetch (the kHalfBlock
// bytes at `stream`) goes out between the two halves of rows.
template <int K, class Source>
void DirectBlock(const Source& src, int64_t b, const unsigned char* act, size_t a_stride,
                 const int32_t* bs8, const unsigned char* stream, float* acc) {
#ifdef __AVXVNNI__
  if constexpr (std::is_same_v<Source, PanelSource>) {
    PanelDecodeBlock<K>(src, b, act, a_stride, bs8, stream, acc);
    return;
  }
#endif
  const __m256i m4 = _mm256_set1_epi8(0x0f);
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride + kActQsOffset;
  Scales s;
  for (int h = 0; h < 2; ++h) {
    if (h == 1 && stream != nullptr) PrefetchAhead(stream, kHalfBlock);
    LoadScales(src, b, h, &s);
    __m256i sum[K];
    for (int cq = 0; cq < 4; ++cq) {  // sub-blocks 2cq and 2cq + 1
      __m256i v[8];
      src.QuantsOf(b, h, cq, v);
      __m256i part[K][2];  // i16 pairs
#pragma GCC unroll 8
      for (int l = 0; l < 8; ++l) {
        const __m256i lo = _mm256_and_si256(v[l], m4);
        const __m256i hi = _mm256_and_si256(_mm256_srli_epi32(v[l], 4), m4);
        const int pos = 16 * cq + l;
#pragma GCC unroll 2
        for (int c = 0; c < K; ++c) {
          const __m256i p0 = _mm256_maddubs_epi16(lo, Broadcast32x8(a[c] + 4 * pos));
          const __m256i p1 = _mm256_maddubs_epi16(hi, Broadcast32x8(a[c] + 4 * pos + 32));
          part[c][0] = l == 0 ? p0 : AddI16(part[c][0], p0);
          part[c][1] = l == 0 ? p1 : AddI16(part[c][1], p1);
        }
      }
#pragma GCC unroll 2
      for (int c = 0; c < K; ++c) {
        const __m256i scaled = _mm256_add_epi32(_mm256_madd_epi16(part[c][0], s.sc[2 * cq][h]),
                                                _mm256_madd_epi16(part[c][1], s.sc[2 * cq + 1][h]));
        sum[c] = cq == 0 ? scaled : AddI32(sum[c], scaled);
      }
    }
#pragma GCC unroll 2
    for (int c = 0; c < K; ++c) {
      Finish(s, h, sum[c], bs8 + 4 * c, a[c] - kActQsOffset, acc + kRows * c);
    }
  }
}

// The tile over the super-blocks of `src`. On rows, the next tile's 16 rows
// (wb + 16 * w_stride) are prefetched as this one goes; on a panel (wb, read
// as one stream), the bytes kStreamPrefetchAhead on: for decode, half a
// block's lines before each block and half within it (DirectBlock), as the
// AVX-512 kernel does. Against the whole block's lines before it, A/B in one
// process (target-7b Q4_K, blocks of 4 tokens at depth 512, Zen 5,
// docs/performance.md), median time before / after: AVX-VNNI 1.022 with the
// host fast; AVX2 1.032 fast, 1.010-1.016 slow. The AVX-VNNI objects, old and
// new, linked side by side in either order (where code lies alone moves a
// token by up to 3.5%): time after / before 0.987 and 0.980, host fast.
template <class Source>
void SourceTile(const Source& src, int64_t cols, const unsigned char* wb, size_t w_stride, int nr,
                const unsigned char* ab, size_t a_stride, int nc, float* out, size_t out_stride) {
  alignas(32) float acc[kTileCols * kRows];  // [token][row], tokens < nc
  std::fill_n(acc, kRows * nc, 0.0f);
  alignas(16) int32_t bs8[kTileCols * 4];  // [token][pair]: i16 sums of 32 activations
  Panel panel;
  const int64_t blocks = cols / kSuperBlockSize;
  for (int64_t b = 0; b < blocks; ++b) {
    const unsigned char* act = ab + b * sizeof(BlockQ8_K);
    const unsigned char* stream = nullptr;  // the second half to prefetch, for DirectBlock
    if constexpr (std::is_same_v<Source, PanelSource>) {  // one stream
      if (nc <= kDirectCols) {
        PrefetchAhead(src.Block(b), kHalfBlock);
        stream = src.Block(b) + kHalfBlock;
      } else {
        PrefetchAhead(src.Block(b), 2 * kHalfBlock);
      }
    } else {  // the next tile's 16 rows
      PrefetchShare(reinterpret_cast<uintptr_t>(wb) + kRows * w_stride, kRows * w_stride, b,
                    blocks);
    }
    for (int c = 0; c < nc; ++c) {
      const auto* bsums = act + c * a_stride + offsetof(BlockQ8_K, bsums);
      _mm_store_si128(reinterpret_cast<__m128i*>(bs8 + 4 * c),
                      _mm_hadd_epi16(Load128(bsums), Load128(bsums + 16)));
    }
    static_assert(kDirectCols == 2);
    if (nc <= kDirectCols) {
      (nc == 1 ? DirectBlock<1, Source> : DirectBlock<2, Source>)(src, b, act, a_stride, bs8,
                                                                  stream, acc);
      continue;
    }
    BuildPanel(src, b, &panel);
    ForTokenBlocks<kBlockCols>(nc, [&](auto k, int c) {
      PanelBlock<k()>(panel, act + c * a_stride, a_stride, bs8 + 4 * c, acc + kRows * c);
    });
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
  SourceTile(RowSource{rows}, cols, wb, w_stride, nr, static_cast<const unsigned char*>(a),
             a_stride, nc, out, out_stride);
}

// The same on 16 rows repacked as a panel (panel_layout.h): w points at the
// panel, nr == kRows.
void PanelTile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
               int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  SourceTile(PanelSource{wb}, cols, wb, w_stride, nr, static_cast<const unsigned char*>(a),
             a_stride, nc, out, out_stride);
}

}  // namespace

extern const MatMulKernel AISCORE_AVX2_KERNEL(Q4_K) = {
    .format = Format::kQ4_K,
    .isa = kAvx2FileIsa,
    .convert_activations = ConvertActivationsQ8_KAvx2,
    .activation_row_bytes = ActivationRowBytesQ8_K,
    .tile = Tile,
    .tile_rows = kRows,
    .tile_cols = kTileCols,
    .panel_tile = PanelTile};

}  // namespace aiscore
