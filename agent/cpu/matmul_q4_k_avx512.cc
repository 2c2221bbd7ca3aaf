// Q4_K weights x Q8_K activations on AVX-512 (F/BW/VL/DQ + VNNI).
//
// Weight rows are the vector lanes: a tile covers 16 rows, one per 32-bit
// lane. Each super-block of the 16 rows is unpacked once into a panel whose
// vector p holds quants 4p..4p+3 of every row as bytes (a 16 x 32 dword
// transpose of the packed nibbles); vpdpbusd then multiplies it by the four
// int8 activations at 4p of one token, broadcast straight from the Q8_K
// block, for every token of the tile (kBlockCols tokens at a time in
// registers). So the unpacking (nibbles, 6-bit scales and mins, f16
// super-block scales) is paid once per 16 rows and super-block and reused
// over up to kTileCols tokens, and no horizontal sums are needed: each lane
// ends up holding its row's dot product.
//
// Per sub-block of 32 the int32 sums are multiplied by its 6-bit scale; the
// mins term is (mins x pair sums of the Q8_K bsums), in int32 too; f32
// scales are applied once per super-block. Up to kDirectCols tokens (decode,
// speculative verification) skip the panel: each transposed vector goes
// straight into the dot products, while the next tile's rows are prefetched.
//
// The transposes happen on GGUF rows only: CpuBackend repacks Q4_K matrices
// into the panel layout (panel_layout.h), where each vector lies as the
// kernel computes with it, and PanelTile loads them directly.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/avx512_helpers.h"
#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kRows = kLaneRows;  // weight rows per tile, one per 32-bit lane
constexpr int kTileCols = 64;     // tokens per tile
constexpr int kBlockCols = 8;     // tokens whose accumulators live in registers at once
constexpr int kDirectCols = 5;    // up to this many tokens, skip the panel (decode, verify)
constexpr int kPositions = kSuperBlockSize / 4;  // 4-quant positions per super-block
// Half a panel block's bytes: decode prefetches its stream a half at a time.
constexpr size_t kHalfBlock = kRows * sizeof(BlockQ4_K) / 2;

constexpr size_t kQsOffset = offsetof(BlockQ4_K, qs);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);

// The scales of one super-block of 16 rows. Lane r of each vector is row r.
struct Scales {
  __m512i sc[8];   // [sub-block j]: 6-bit scale, i32
  __m512i m[4];    // [pair i]: 6-bit mins of sub-blocks 2i, 2i+1, i16 x 2
  __m512 d, dmin;  // super-block scales, f32
};

// One super-block of 16 rows, unpacked.
struct Panel {
  __m512i q[kPositions];  // [p]: quants 4p..4p+3 of each row, u8 0..15
  Scales s;
};

// Loads packed quant dwords 16 * half .. 16 * half + 15 of the super-block at
// byte `block` of each row, transposed: v[k] holds qs dword 16 * half + k.
// qs dword 8c + l holds positions 16c + l (low nibbles) and 16c + 8 + l (high).
inline void LoadQuants(const unsigned char* const rows[kRows], size_t block, int half,
                       __m512i v[16]) {
  Load16x16(rows, block + kQsOffset + 64 * half, v);
}

// Unpacks a super-block's header of 16 rows, transposed: lane r of v[0] holds
// row r's d and dmin, of v[1..3] its 12 bytes of 6-bit scales and mins.
// Forced inline, so that decode keeps the scales in registers rather than
// passing 14 vectors through the stack on every super-block.
inline __attribute__((always_inline)) void UnpackScales(const __m512i v[4], Scales* s) {
  const __m512i h = v[0], s0 = v[1], s1 = v[2], s2 = v[3];
  s->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(h));
  s->dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(h, 16)));
  // Byte k of these holds the scale (min) of sub-block k (lo) and 4 + k (hi).
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i m6 = _mm512_set1_epi8(0x3f);
  const __m512i top2 = _mm512_set1_epi8(0x30);
  const __m512i sc_lo = _mm512_and_si512(s0, m6);
  const __m512i min_lo = _mm512_and_si512(s1, m6);
  const __m512i sc_hi =
      _mm512_or_si512(_mm512_and_si512(s2, m4), _mm512_and_si512(_mm512_srli_epi32(s0, 2), top2));
  const __m512i min_hi = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi32(s2, 4), m4),
                                         _mm512_and_si512(_mm512_srli_epi32(s1, 2), top2));
  for (int j = 0; j < 4; ++j) {
    s->sc[j] = _mm512_shuffle_epi8(sc_lo, BytePattern(j, 0x80));
    s->sc[j + 4] = _mm512_shuffle_epi8(sc_hi, BytePattern(j, 0x80));
  }
  s->m[0] = _mm512_shuffle_epi8(min_lo, BytePattern(0, 1));
  s->m[1] = _mm512_shuffle_epi8(min_lo, BytePattern(2, 3));
  s->m[2] = _mm512_shuffle_epi8(min_hi, BytePattern(0, 1));
  s->m[3] = _mm512_shuffle_epi8(min_hi, BytePattern(2, 3));
}

// Unpacks the header of the super-block at byte `block` of each row: d and
// dmin (dword 0) and 12 bytes of 6-bit scales and mins (dwords 1..3).
void LoadScales(const unsigned char* const rows[kRows], size_t block, Scales* s) {
  __m512i v[4];
  LoadTransposed4(rows, block, v);
  UnpackScales(v, s);
}

// The same from a panel block (panel_layout.h), where they lie transposed.
inline __attribute__((always_inline)) void LoadPanelScales(const unsigned char* panel, Scales* s) {
  __m512i v[4];
  for (int k = 0; k < 4; ++k) v[k] = _mm512_loadu_si512(panel + 64 * k);
  UnpackScales(v, s);
}

// Where a super-block's scales and quants come from, transposed: ScalesOf(b)
// unpacks super-block b's header; QuantsOf(b, half, v) leaves in v[k] qs
// dword 16 * half + k of each row (as LoadQuants).
// - GGUF rows: transposed on every pass.
struct RowSource {
  const unsigned char* const* rows;
  void ScalesOf(int64_t b, Scales* s) const { LoadScales(rows, b * sizeof(BlockQ4_K), s); }
  void QuantsOf(int64_t b, int half, __m512i v[16]) const {
    LoadQuants(rows, b * sizeof(BlockQ4_K), half, v);
  }
};
// - A panel (panel_layout.h): loaded as they lie.
struct PanelSource {
  const unsigned char* panel;
  const unsigned char* Block(int64_t b) const { return panel + b * kRows * sizeof(BlockQ4_K); }
  void ScalesOf(int64_t b, Scales* s) const { LoadPanelScales(Block(b), s); }
  void QuantsOf(int64_t b, int half, __m512i v[16]) const {
    for (int k = 0; k < 16; ++k) {
      v[k] = _mm512_loadu_si512(Block(b) + kQ4_KPanelQs + 64 * (16 * half + k));
    }
  }
};

template <class Source>
void BuildPanel(const Source& src, int64_t b, Panel* p) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  for (int half = 0; half < 2; ++half) {
    __m512i v[16];
    src.QuantsOf(b, half, v);
    for (int k = 0; k < 16; ++k) {
      const int dword = 16 * half + k;
      const int pos = 16 * (dword / 8) + dword % 8;
      p->q[pos] = _mm512_and_si512(v[k], m4);
      p->q[pos + 8] = _mm512_and_si512(_mm512_srli_epi32(v[k], 4), m4);
    }
  }
  src.ScalesOf(b, &p->s);
}

// Adds d_token * (d * sum - dmin * mins . bs8) of one token to acc[row].
inline void Finish(const Scales& s, __m512i sum, const int32_t* bs8, const unsigned char* act,
                   float* acc) {
  __m512i mins = _mm512_setzero_si512();
  for (int i = 0; i < 4; ++i) mins = _mm512_dpwssd_epi32(mins, s.m[i], _mm512_set1_epi32(bs8[i]));
  const __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(sum), s.d,
                                   _mm512_mul_ps(_mm512_cvtepi32_ps(mins), s.dmin));
  float d;
  std::memcpy(&d, act + offsetof(BlockQ8_K, d), sizeof(d));
  _mm512_store_ps(acc, _mm512_fmadd_ps(f, _mm512_set1_ps(d), _mm512_load_ps(acc)));
}

// Adds one super-block of K tokens to acc[token][row], from a panel. act
// points at the super-block's Q8_K block of the first token; bs8 holds each
// token's sub-block sums of activations as i16 pairs.
template <int K>
void PanelBlock(const Panel& p, const unsigned char* act, size_t a_stride, const int32_t* bs8,
                float* acc) {
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride + kActQsOffset;
  __m512i sum[K];
#pragma GCC unroll 8
  for (int j = 0; j < 8; ++j) {
    __m512i sub[K];
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) sub[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int i = 0; i < 8; ++i) {
      const __m512i w = p.q[8 * j + i];
#pragma GCC unroll 8
      for (int c = 0; c < K; ++c) {
        sub[c] = DotBroadcast(sub[c], w, a[c] + 32 * j + 4 * i);
      }
    }
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) {
      const __m512i scaled = _mm512_mullo_epi32(sub[c], p.s.sc[j]);
      sum[c] = j == 0 ? scaled : AddI32(sum[c], scaled);
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < K; ++c) {
    Finish(p.s, sum[c], bs8 + 4 * c, a[c] - kActQsOffset, acc + kRows * c);
  }
}

// The same for K <= kDirectCols tokens without a panel: each transposed quant
// vector goes straight into the dot products (decode, and the few tokens of a
// speculative verification, where the panel would not pay off). The high
// nibbles are masked in place (16 q <= 240 still fits a byte), one
// instruction rather than two, and their sums shifted down once. With the
// scales inlined, 1 core from L2: 58 -> 72 GiB/s; 2 threads from DRAM, host
// fast: 57 -> 63. Where `stream` is not null (a panel, read as one stream),
// the second half of the block's stream prefetch (PrefetchAhead of the
// kHalfBlock bytes at `stream`) goes out between the two halves of quants.
template <int K, class Source>
void DirectBlock(const Source& src, int64_t b, const unsigned char* act, size_t a_stride,
                 const int32_t* bs8, const unsigned char* stream, float* acc) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride + kActQsOffset;
  Scales s;
  src.ScalesOf(b, &s);
  __m512i sum[K];
  for (int half = 0; half < 2; ++half) {
    if (half == 1 && stream != nullptr) PrefetchAhead(stream, kHalfBlock);
    __m512i v[16];
    src.QuantsOf(b, half, v);
    __m512i sub[K][4];  // sub-blocks 4 * half .. 4 * half + 3
#pragma GCC unroll 4
    for (int c = 0; c < K; ++c) {
      for (int j = 0; j < 4; ++j) sub[c][j] = _mm512_setzero_si512();
    }
#pragma GCC unroll 16
    for (int k = 0; k < 16; ++k) {
      const int j = 2 * (k / 8);  // sub-block of the low nibbles, within this half
      const int pos = 32 * half + 16 * (k / 8) + k % 8;
      const __m512i lo = _mm512_and_si512(v[k], m4);
      const __m512i hi16 = _mm512_andnot_si512(m4, v[k]);  // 16 x the high nibbles
#pragma GCC unroll 4
      for (int c = 0; c < K; ++c) {
        sub[c][j] = DotBroadcast(sub[c][j], lo, a[c] + 4 * pos);
        sub[c][j + 1] = DotBroadcast(sub[c][j + 1], hi16, a[c] + 4 * pos + 32);
      }
    }
#pragma GCC unroll 4
    for (int c = 0; c < K; ++c) {
      for (int j = 0; j < 4; ++j) {
        // The high nibbles' sums are exact multiples of 16.
        const __m512i dot = j % 2 == 0 ? sub[c][j] : _mm512_srai_epi32(sub[c][j], 4);
        const __m512i scaled = _mm512_mullo_epi32(dot, s.sc[4 * half + j]);
        sum[c] = half == 0 && j == 0 ? scaled : AddI32(sum[c], scaled);
      }
    }
  }
#pragma GCC unroll 4
  for (int c = 0; c < K; ++c) {
    Finish(s, sum[c], bs8 + 4 * c, a[c] - kActQsOffset, acc + kRows * c);
  }
}

// The tile over the super-blocks of `src`. On rows, the next tile's 16 rows
// (wb + 16 * w_stride) are prefetched as this one goes; on a panel (wb, read
// as one stream), the bytes kStreamPrefetchAhead on: for decode, half a
// block's lines before each block and half between its halves (DirectBlock).
// Against the whole block's lines before it, A/B in one process (target-7b
// Q4_K, blocks of 4 tokens at depth 512, Zen 5, docs/performance.md), median
// time before / after: 1.039, 1.047 and 1.023 with the host fast, 1.025 and
// 1.027 with it slow; in four parts, 1.016 (fast).
template <class Source>
void SourceTile(const Source& src, int64_t cols, const unsigned char* wb, size_t w_stride, int nr,
                const unsigned char* ab, size_t a_stride, int nc, float* out, size_t out_stride) {
  alignas(64) float acc[kTileCols * kRows];  // [token][row], tokens < nc
  std::fill_n(acc, kRows * nc, 0.0f);
  alignas(64) int32_t bs8[kTileCols * 4];  // [token][pair]: i16 sums of 32 activations
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
      const __m128i lo = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums));
      const __m128i hi = _mm_loadu_si128(reinterpret_cast<const __m128i*>(bsums + 16));
      _mm_store_si128(reinterpret_cast<__m128i*>(bs8 + 4 * c), _mm_hadd_epi16(lo, hi));
    }
    if (nc <= kDirectCols) {
      WithCount<kDirectCols>(
          nc, [&](auto k) { DirectBlock<k(), Source>(src, b, act, a_stride, bs8, stream, acc); });
      continue;
    }
    BuildPanel(src, b, &panel);
    ForTokenBlocks<kBlockCols>(nc, [&](auto k, int c) {
      PanelBlock<k()>(panel, act + c * a_stride, a_stride, bs8 + 4 * c, acc + kRows * c);
    });
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << nr) - 1);
  for (int c = 0; c < nc; ++c) {
    _mm512_mask_storeu_ps(out + c * out_stride, mask, _mm512_load_ps(acc + kRows * c));
  }
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

extern const MatMulKernel kQ4_KAvx512Kernel = {.format = Format::kQ4_K,
                                               .isa = Isa::kAvx512,
                                               .convert_activations = ConvertActivationsQ8_KAvx2,
                                               .activation_row_bytes = ActivationRowBytesQ8_K,
                                               .tile = Tile,
                                               .tile_rows = kRows,
                                               .tile_cols = kTileCols,
                                               .panel_tile = PanelTile};

}  // namespace aiscore
