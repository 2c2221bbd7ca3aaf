// Q8_0 weights x Q8_0 activations on AVX-512 VNNI, and a vectorized
// activation quantizer that writes the same blocks as the portable one.
//
// vpdpbusd multiplies unsigned by signed bytes, so weights are offset to
// unsigned (w ^ 0x80 = w + 128) and the offset's share, 128 * the sum of the
// activations it met, is taken off again: this kernel's activation rows
// carry it per block, beside each block's scale as a float (Q8_0 with
// offset shares, activation_layout.h). Every 32-weight block has its own float scale on both
// sides, so each block's integer dot product is scaled on its own.
//
// The 16 rows of a tile are the 16 lanes of a zmm register: one vpdpbusd
// advances 16 dot products by 4 quants against 4 activation bytes broadcast
// from memory, and one multiply and one FMA scale 16 dot products, with no
// horizontal sums. CpuBackend repacks Q8_0 matrices into the panel layout
// (panel_layout.h), where each such vector lies as the kernel uses it, offset
// already: PanelTile reads it as it lies, as one stream; decode takes 8
// vpdpbusd and 5 more instructions per block of 16 rows (544 bytes): from
// cache (2048 x 4096, one core) 98 GiB/s, where decode on rows reads 39. On
// GGUF rows, prefill repacks each 16 blocks of a tile's rows on the fly
// (RepackChunk); decode reads rows one after another, each a dot product of
// its own (vpdpbusd of |w| and a with w's sign; the integer sums of 8 blocks
// gathered into one vector and scaled by one FMA), prefetching 8 KiB ahead.
//
// A token's dot products are the same bits whichever tokens share its tile
// (on panels, and in prefill on rows: every path adds a block's term as
// AddBlockTerm does); decode on rows, which sums in another order, differs
// from them in the last bits.

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/avx512_helpers.h"
#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kTileRows = kPanelRows;  // weight rows: one zmm lane each
constexpr int kTileCols = 64;          // activation rows

inline __m256i LoadQuants(const BlockQ8_0& block) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs));
}

// This kernel's activation rows: Q8_0 with offset shares
// (activation_layout.h).
using ActivationRow = Q8_0OffsetRow;
constexpr auto ActivationRowAt = Q8_0OffsetRowAt;

// Same arithmetic as QuantizeRowQ8_0: d = f16(amax / 127), q = clamp(round(x
// / d), -127, 127) with round half to even (vcvtps2dq under the default MXCSR).
void ConvertActivations(const float* x, int64_t cols, void* out) {
  const int64_t nb = cols / kQ8_0BlockSize;
  auto* row = static_cast<unsigned char*>(out);
  auto* blocks = reinterpret_cast<BlockQ8_0*>(row);
  auto* scale = reinterpret_cast<float*>(row + Q8_0OffsetScalesAt(nb));
  auto* offset_share = reinterpret_cast<int32_t*>(row + Q8_0OffsetSharesAt(nb));
  for (int64_t b = 0; b < nb; ++b, x += kQ8_0BlockSize) {
    const __m512 v0 = _mm512_loadu_ps(x);
    const __m512 v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const uint16_t d_bits = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const float d = _cvtsh_ss(d_bits);
    blocks[b].d = d_bits;
    scale[b] = d;
    if (!(d > 0)) {
      std::memset(blocks[b].qs, 0, sizeof(blocks[b].qs));
      offset_share[b] = 0;
      continue;
    }
    const __m512 vd = _mm512_set1_ps(d);
    auto quantize = [&](__m512 v) {
      const __m512i q = _mm512_cvtps_epi32(_mm512_div_ps(v, vd));
      return _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(-127)), _mm512_set1_epi32(127));
    };
    const __m512i lo = quantize(v0), hi = quantize(v1);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs), _mm512_cvtepi32_epi8(lo));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs + 16), _mm512_cvtepi32_epi8(hi));
    offset_share[b] = 128 * _mm512_reduce_add_epi32(_mm512_add_epi32(lo, hi));
  }
}

// Decode on rows: blocks per group, whose pair scales d_w * d_a come from
// one vector multiply, and whose integer sums are scaled by one FMA.
constexpr int kScaleGroup = 8;

// The sums of the eight lanes of each of d[0..7], in lanes 0..7.
inline __m256i LaneSums(const __m256i d[8]) {
  const __m256i h0123 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(d[0], d[1]), _mm256_hadd_epi32(d[2], d[3]));
  const __m256i h4567 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(d[4], d[5]), _mm256_hadd_epi32(d[6], d[7]));
  // Lane i of each 128-bit half now holds half of the sum of d[i] (d[4 + i]).
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                          _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

// Decode on rows: the dot product of one weight row with the activation row
// a, over nb blocks. vpdpbusd takes |w| (unsigned) and a with w's sign; the
// integer sums of 8 blocks are gathered into one vector's lanes and scaled
// together.
float DecodeRow(int64_t nb, const BlockQ8_0* row, const ActivationRow& a) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b += kScaleGroup) {
    const bool full = b + kScaleGroup <= nb;
    const int m = full ? kScaleGroup : static_cast<int>(nb - b);
    __m256i dot[kScaleGroup];
    PrefetchAhead(row + b, kScaleGroup * sizeof(BlockQ8_0));
#pragma GCC unroll 8
    for (int i = 0; i < kScaleGroup; ++i) {
      dot[i] = _mm256_setzero_si256();
      if (!full && i >= m) continue;
      const __m256i w = LoadQuants(row[b + i]);
      dot[i] = _mm256_dpbusd_epi32(dot[i], _mm256_abs_epi8(w),
                                   _mm256_sign_epi8(LoadQuants(a.blocks[b + i]), w));
    }
    const __m256 w_scale = full ? Q8_0Scales<kScaleGroup>(row, b, m) : Q8_0Scales<0>(row, b, m);
    const __m256 a_scale = _mm256_maskz_loadu_ps(static_cast<__mmask8>((1u << m) - 1), a.scale + b);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(LaneSums(dot)), _mm256_mul_ps(w_scale, a_scale), acc);
  }
  return HorizontalSum(acc);
}

constexpr int kChunkBlocks = 16;  // blocks repacked at a time (on rows): 9 KiB, stays in L1
constexpr int kColGroup = 8;      // activation rows whose sums stay in registers

// A tile's weights as the dot products take them: Quants(b, j) holds bytes
// 4j .. 4j + 3 of block b of each of the 16 rows (a lane each), plus 128;
// WScale(b) the 16 rows' scales of block b. Prefetch(b) is called before
// block b is read.
// - Blocks b0 .. b0 + kChunkBlocks - 1 of GGUF rows, repacked (RepackChunk).
struct RepackedChunk {
  static constexpr bool kAnyBlock = false;  // blocks b0 .. b0 + kChunkBlocks - 1 only
  int64_t b0;
  __m512i quants[kChunkBlocks][8];
  __m512 w_scale[kChunkBlocks];  // 0 past the rows
  __m512i Quants(int64_t b, int j) const { return quants[b - b0][j]; }
  __m512 WScale(int64_t b) const { return w_scale[b - b0]; }
  void Prefetch(int64_t) const {}
};
// - A panel of nb blocks (panel_layout.h), read as it lies: one stream,
//   prefetched kStreamPrefetchAhead on, a pair of blocks at a time.
struct Panel {
  static constexpr bool kAnyBlock = true;
  const unsigned char* panel;
  int64_t nb;
  __m512i Quants(int64_t b, int j) const {
    return _mm512_loadu_si512(panel + Q8_0PanelQs(b, nb) + 64 * j);
  }
  __m512 WScale(int64_t b) const {
    return _mm512_cvtph_ps(
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + Q8_0PanelD(b))));
  }
  void Prefetch(int64_t b) const {
    if (b % 2 == 0) PrefetchAhead(panel + Q8_0PanelD(b), kQ8_0PanelPair);
  }
};

// Repacks blocks b0 .. b0 + m - 1 of rows 0 .. nr - 1 (rows past nr are
// weight 0, scale 0).
void RepackChunk(const unsigned char* w, size_t w_stride, int nr, int64_t b0, int m,
                 RepackedChunk* out) {
  out->b0 = b0;
  const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
  // Gather 128-bit lanes: dwords j and j + 4 of both 256-bit halves.
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i hi_idx = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int i = 0; i < m; ++i) {
    const int64_t b = b0 + i;
    // Row r's quants + 128.
    auto row = [&](int r) {
      const __m256i q = r < nr ? LoadQuants(reinterpret_cast<const BlockQ8_0*>(w + r * w_stride)[b])
                               : _mm256_setzero_si256();
      return _mm256_xor_si256(q, offset);
    };
    // z[k]: row k in the low half, row k + 8 in the high half.
    __m512i z[8];
    for (int k = 0; k < 8; ++k) {
      z[k] = _mm512_inserti64x4(_mm512_castsi256_si512(row(k)), row(k + 8), 1);
    }
    // 8 x 8 dword transpose within each half: unpack pairs, quads, then lanes.
    __m512i t[8], u[8];
    for (int k = 0; k < 4; ++k) {
      t[2 * k] = _mm512_unpacklo_epi32(z[2 * k], z[2 * k + 1]);
      t[2 * k + 1] = _mm512_unpackhi_epi32(z[2 * k], z[2 * k + 1]);
    }
    for (int k = 0; k < 2; ++k) {
      u[4 * k + 0] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
      u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
      u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
      u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int j = 0; j < 4; ++j) {
      out->quants[i][j] = _mm512_permutex2var_epi64(u[j], lo_idx, u[j + 4]);
      out->quants[i][j + 4] = _mm512_permutex2var_epi64(u[j], hi_idx, u[j + 4]);
    }
    alignas(32) uint16_t d[16] = {};
    for (int r = 0; r < nr; ++r) d[r] = reinterpret_cast<const BlockQ8_0*>(w + r * w_stride)[b].d;
    out->w_scale[i] = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d)));
  }
}

// sum + (dots - the offset's share) x a's scale x w_scale: block b's term
// of one token's 16 dot products, dots its integer sums. Every path adds a
// block this way, so a token's bits do not depend on the path.
inline __m512 AddBlockTerm(__m512i dots, const ActivationRow& a, int64_t b, __m512 w_scale,
                           __m512 sum) {
  const __m512i exact = _mm512_sub_epi32(dots, _mm512_set1_epi32(a.offset_share[b]));
  const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(exact), _mm512_set1_ps(a.scale[b]));
  return _mm512_fmadd_ps(scaled, w_scale, sum);
}

// acc[16 c + r] += the dot products of weight row r with activation row
// a[c], blocks b0 .. b0 + m - 1. For each token and block, in this order:
// the integer dot product less the offset's share, times the activation's
// scale, times the weights' scale added to the sum (one FMA): the same
// operations whichever tokens share the tile.
template <int NC, class Weights>
void GroupChunk(const Weights& w, int64_t b0, int64_t m, const ActivationRow* a, float* acc) {
  __m512 sum[NC];
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c) sum[c] = _mm512_load_ps(acc + 16 * c);
  for (int64_t b = b0; b < b0 + m; ++b) {
    w.Prefetch(b);
    __m512i dot[NC];
#pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) dot[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m512i wq = w.Quants(b, j);
#pragma GCC unroll 16
      for (int c = 0; c < NC; ++c) {
        dot[c] = DotBroadcast(dot[c], wq,
                              reinterpret_cast<const unsigned char*>(a[c].blocks[b].qs) + 4 * j);
      }
    }
    const __m512 w_scale = w.WScale(b);
#pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) sum[c] = AddBlockTerm(dot[c], a[c], b, w_scale, sum[c]);
  }
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c) _mm512_store_ps(acc + 16 * c, sum[c]);
}

template <class Weights>
using GroupChunkFn = void (*)(const Weights&, int64_t, int64_t, const ActivationRow*, float*);
template <class Weights, size_t... I>
constexpr std::array<GroupChunkFn<Weights>, sizeof...(I)> MakeGroupChunks(
    std::index_sequence<I...>) {
  return {&GroupChunk<I + 1, Weights>...};
}
template <class Weights>
constexpr auto kGroupChunks = MakeGroupChunks<Weights>(std::make_index_sequence<kColGroup>());

// out[c * out_stride + r] for r < nr, c < nc <= kTileCols: chunk by chunk of
// kChunkBlocks blocks, each chunk's weights (made by chunk_at(b0, m))
// reused by groups of kColGroup tokens; up to kColGroup tokens (decode,
// verification) on weights that hold every block, one pass over them.
template <class Weights, class ChunkAt>
void SourceTile(int64_t nb, ChunkAt chunk_at, int nr, const unsigned char* a, size_t a_stride,
                int nc, float* out, size_t out_stride) {
  alignas(64) float acc[kTileCols][16];  // lane r: row r
  for (int c = 0; c < nc; ++c) _mm512_store_ps(acc[c], _mm512_setzero_ps());
  ActivationRow rows[kTileCols];
  for (int c = 0; c < nc; ++c) rows[c] = ActivationRowAt(a + c * a_stride, nb);
  const int64_t chunk = Weights::kAnyBlock && nc <= kColGroup ? nb : kChunkBlocks;
  for (int64_t b0 = 0; b0 < nb; b0 += chunk) {
    const int64_t m = std::min(chunk, nb - b0);
    const Weights& w = chunk_at(b0, m);
    for (int c0 = 0; c0 < nc; c0 += kColGroup) {
      kGroupChunks<Weights>[std::min(kColGroup, nc - c0) - 1](w, b0, m, rows + c0, acc[c0]);
    }
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << nr) - 1);
  for (int c = 0; c < nc; ++c) {
    _mm512_mask_storeu_ps(out + c * out_stride, mask, _mm512_load_ps(acc[c]));
  }
}

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  const int64_t nb = cols / kQ8_0BlockSize;
  if (nc == 1) {  // row after row: one stream
    const ActivationRow act = ActivationRowAt(ab, nb);
    for (int r = 0; r < nr; ++r) {
      out[r] = DecodeRow(nb, reinterpret_cast<const BlockQ8_0*>(wb + r * w_stride), act);
    }
    return;
  }
  RepackedChunk rc;
  SourceTile<RepackedChunk>(
      nb,
      [&](int64_t b0, int64_t m) -> const RepackedChunk& {
        RepackChunk(wb, w_stride, nr, b0, static_cast<int>(m), &rc);
        return rc;
      },
      nr, ab, a_stride, nc, out, out_stride);
}

// Decode on a panel: block b's term for the one token (AddBlockTerm), from
// its scales at d and its quants at qs.
inline __m512 DecodeBlock(const unsigned char* d, const unsigned char* qs, const ActivationRow& a,
                          int64_t b, __m512 sum) {
  // Two vpdpbusd chains: a block's sums wait on half as many instructions.
  __m512i dot0 = _mm512_setzero_si512(), dot1 = _mm512_setzero_si512();
  const auto* aq = reinterpret_cast<const unsigned char*>(a.blocks[b].qs);
  for (int j = 0; j < 8; j += 2) {
    dot0 = DotBroadcast(dot0, _mm512_loadu_si512(qs + 64 * j), aq + 4 * j);
    dot1 = DotBroadcast(dot1, _mm512_loadu_si512(qs + 64 * j + 64), aq + 4 * j + 4);
  }
  const __m512 w_scale = LoadF16x16(d);
  return AddBlockTerm(_mm512_add_epi32(dot0, dot1), a, b, w_scale, sum);
}

// Decode (one token) on a panel of nb blocks: out[r] = the dot product of
// row r. A pair of blocks at a time, at fixed offsets, the pair 8 KiB on
// prefetched (Zen 5, 2 threads, 4096 x 14336 from DRAM, host fast: 64-69
// GiB/s, where GroupChunk<1> over the panel read 55-57 and decode on rows
// 63-64).
void PanelDecode(int64_t nb, const unsigned char* panel, const ActivationRow& a, float* out) {
  __m512 sum = _mm512_setzero_ps();
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const unsigned char* pair = panel + (b / 2) * kQ8_0PanelPair;
    PrefetchAhead(pair, kQ8_0PanelPair);
    sum = DecodeBlock(pair + kQ8_0PanelD0, pair + kQ8_0PanelQs0, a, b, sum);
    sum = DecodeBlock(pair + kQ8_0PanelD1, pair + kQ8_0PanelQs1, a, b + 1, sum);
  }
  if (b < nb) sum = DecodeBlock(panel + Q8_0PanelD(b), panel + Q8_0PanelQs(b, nb), a, b, sum);
  _mm512_storeu_ps(out, sum);
}

// The same on a panel of 16 rows (panel_layout.h): w points at the panel,
// nr == kTileRows.
void PanelTile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
               int nc, float* out, size_t out_stride) {
  const int64_t nb = cols / kQ8_0BlockSize;
  if (nc == 1) {
    PanelDecode(nb, static_cast<const unsigned char*>(w),
                ActivationRowAt(static_cast<const unsigned char*>(a), nb), out);
    return;
  }
  const Panel panel{static_cast<const unsigned char*>(w), nb};
  SourceTile<Panel>(
      nb, [&](int64_t, int64_t) -> const Panel& { return panel; }, nr,
      static_cast<const unsigned char*>(a), a_stride, nc, out, out_stride);
}

}  // namespace

extern const MatMulKernel kQ8_0Avx512Kernel = {.format = Format::kQ8_0,
                                               .isa = Isa::kAvx512,
                                               .convert_activations = ConvertActivations,
                                               .activation_row_bytes = ActivationRowBytesQ8_0Offset,
                                               .tile = Tile,
                                               .tile_rows = kTileRows,
                                               .tile_cols = kTileCols,
                                               .panel_tile = PanelTile};

}  // namespace aiscore
