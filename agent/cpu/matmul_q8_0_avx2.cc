// Q8_0 weights x Q8_0 activations on AVX2, and a vectorized activation
// quantizer that writes the same bytes as the portable one.
//
// Per 32-weight block and (weight row, activation row) pair: the sign trick
// turns the int8 x int8 product into u8 x s8 (|w| times a with w's sign,
// right for w = -128 too; activations are within +-127), vpmaddubsw sums
// pairs into int16 (at most 2 * 128 * 127, no saturation),
// vpmaddwd sums those into 8 int32 lanes (built again for AVX-VNNI, one
// vpdpbusd does both: prefill 4096 x 4096 x 512 on Zen 5 takes 10% less
// time), and one FMA adds them, scaled by d_w * d_a, to the pair's float
// accumulator (even and odd blocks to two, kChains); the pair scales come
// from one multiply per 8 blocks and are broadcast from memory, which costs
// no ALU.
//
// Prefill: micro-tiles of kMicroRows x kMicroCols pairs, all accumulators in
// ymm registers; a kernel tile is three micro-tiles stacked over up to 64
// tokens, each micro-tile's rows read from L1 for all of them, a pair at a
// time, with their scales converted once (ChainScalesOf; Zen 5, 2 threads,
// prefill 4096 x 4096 x 512: 72-76 ms with a tile of 2 tokens, 65 this way). Decode (one
// activation row) reads a tile's rows one after another, as one stream (the
// rows of a matrix lie end to end), with a micro-tile's terms on one row
// (DecodeRow), prefetching kStreamPrefetchAhead on where kStreamPrefetch. It
// used to read the 12 rows of a tile side by side, 12 streams, each block
// prefetching its share of the next tile (Zen 4, 2 threads, 14336 x 4096:
// 27.2-28.7 GB/s), which on Zen 5 read 66-71% of the probe end to end with
// the host fast, where one stream reads 82-88% (docs/performance.md, "The
// AVX2 kernels on this machine").
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>
#include <vector>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kMicroRows = 4;
constexpr int kMicroCols = 2;
constexpr int kTileRows = 3 * kMicroRows;
// Tokens per prefill tile: each micro-tile's rows are read from L1 for all of
// them, a pair at a time.
constexpr int kTileCols = 64;

inline __m256i LoadQuants(const BlockQ8_0& block) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs));
}

// Same arithmetic as QuantizeRowQ8_0: d = f16(amax / 127), q = clamp(round(x
// / d), -127, 127) with round half to even (vcvtps2dq under the default MXCSR).
void ConvertActivations(const float* x, int64_t cols, void* out) {
  auto* blocks = static_cast<BlockQ8_0*>(out);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < cols / kQ8_0BlockSize; ++b, x += kQ8_0BlockSize) {
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + 8 * i);
    const __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                      _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const uint16_t d_bits = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const float d = _cvtsh_ss(d_bits);
    blocks[b].d = d_bits;
    if (!(d > 0)) {
      std::memset(blocks[b].qs, 0, sizeof(blocks[b].qs));
      continue;
    }
    const __m256 vd = _mm256_set1_ps(d);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_div_ps(v[i], vd));
    // Packing interleaves 128-bit lanes; the permute restores element order.
    const __m256i q16 =
        _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    __m256i q8 = _mm256_permutevar8x32_epi32(q16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    q8 = _mm256_max_epi8(q8, _mm256_set1_epi8(-127));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(blocks[b].qs), q8);
  }
}

// A dot product sums its blocks in two chains of FMAs, the even blocks and
// the odd ones, added at the end: decode, which has one dot product at a
// time, then runs two chains side by side, and the latency of one (an FMA
// a block) no longer bounds it (Zen 5, 2 threads, decode 2048 x 4096 from
// cache: 68 GiB/s with one chain, 77-80 with two). Prefill, whose tile has
// kMicroRows x kMicroCols chains already, runs the two one after the other
// (the odd blocks from cache), and so holds no more accumulators. Both add
// the same terms in the same order, so a token's bits do not depend on
// whether it is decoded alone or in a batch (speculative verification).
constexpr int kChains = 2;
// Blocks per group, whose pair scales d_w * d_a are formed together, one
// vector multiply per chain (8 blocks: every other one) before the dot
// products read them back one by one.
constexpr int kScaleGroup = 8 * kChains;

// The integer dot product of a weight block (w, and |w| as u8) and an
// activation block, as floats in 8 lanes: the sign trick, then DotU8S8.
inline __m256 BlockDot(__m256i w_abs, __m256i w, __m256i a) {
  return _mm256_cvtepi32_ps(DotU8S8(_mm256_setzero_si256(), w_abs, _mm256_sign_epi8(a, w)));
}

// The scales of chain k's blocks of the group at b0 (m blocks): lane i holds
// block b0 + k + 2i's, zero past the group.
inline __m256 ChainScales(const BlockQ8_0* row, int64_t b0, int m, int k) {
  if (m == kScaleGroup) return Q8_0Scales<kScaleGroup / kChains>(row, b0 + k, 0, kChains);
  return Q8_0Scales<0>(row, b0 + k, (m - k + kChains - 1) / kChains, kChains);
}

// Blocks of one chain whose scales ChainScalesOf holds, a multiple of a
// group's: zero past the row's last block.
inline int64_t ChainLength(int64_t nb) {
  const int64_t per_group = kScaleGroup / kChains;
  return (nb + kScaleGroup - 1) / kScaleGroup * per_group;
}

// Writes the f32 scales of `rows` rows of nb blocks, chain by chain, as
// ChainScales gives them: scales[(r * kChains + k) * ChainLength(nb) + i] is
// row r's block k + 2i. A micro-tile's rows take these once for all the
// tokens of a tile rather than once per pair of them.
void ChainScalesOf(const unsigned char* w, size_t w_stride, int rows, int64_t nb, float* scales) {
  const int64_t len = ChainLength(nb);
  for (int r = 0; r < rows; ++r) {
    const auto* row = reinterpret_cast<const BlockQ8_0*>(w + r * w_stride);
    for (int k = 0; k < kChains; ++k) {
      float* out = scales + (r * kChains + k) * len;
      for (int64_t b0 = 0; b0 < nb; b0 += kScaleGroup) {
        const int m = static_cast<int>(std::min<int64_t>(kScaleGroup, nb - b0));
        _mm256_storeu_ps(out + b0 / kChains, ChainScales(row, b0, m, k));
      }
    }
  }
}

// out[c * out_stride + r] = dot(weight row r, activation row c) for r < RM,
// c < RN (prefill): chain 0 over the row, then chain 1, w_scales the rows'
// ChainScalesOf. (The unroll pragmas keep GCC from leaving the accumulators
// in memory.)
template <int RM, int RN>
void MicroTile(int64_t cols, const unsigned char* w, size_t w_stride, const float* w_scales,
               const unsigned char* a, size_t a_stride, float* out, size_t out_stride) {
  const BlockQ8_0* wr[RM];
  const BlockQ8_0* ac[RN];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) wr[r] = reinterpret_cast<const BlockQ8_0*>(w + r * w_stride);
#pragma GCC unroll 16
  for (int c = 0; c < RN; ++c) ac[c] = reinterpret_cast<const BlockQ8_0*>(a + c * a_stride);
  const int64_t nb = cols / kQ8_0BlockSize;
  const int64_t chain_length = ChainLength(nb);  // of w_scales
  __m256 chain_sum[RM][RN];                      // of the chains done
  for (int k = 0; k < kChains; ++k) {
    __m256 acc[RM][RN];
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) acc[r][c] = _mm256_setzero_ps();
    }
    alignas(32) float scale[RM][RN][kScaleGroup / kChains];  // d_w * d_a, block b0 + k + 2i
    for (int64_t b0 = 0; b0 < nb; b0 += kScaleGroup) {
      const int m = static_cast<int>(std::min<int64_t>(kScaleGroup, nb - b0));
      __m256 a_scale[RN];
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) a_scale[c] = ChainScales(ac[c], b0, m, k);
#pragma GCC unroll 16
      for (int r = 0; r < RM; ++r) {
        const __m256 w_scale =
            _mm256_loadu_ps(w_scales + (r * kChains + k) * chain_length + b0 / kChains);
#pragma GCC unroll 16
        for (int c = 0; c < RN; ++c) {
          _mm256_store_ps(scale[r][c], _mm256_mul_ps(w_scale, a_scale[c]));
        }
      }
      for (int i = 0; k + kChains * i < m; ++i) {
        const int64_t b = b0 + k + kChains * i;
        __m256i av[RN];
#pragma GCC unroll 16
        for (int c = 0; c < RN; ++c) av[c] = LoadQuants(ac[c][b]);
#pragma GCC unroll 16
        for (int r = 0; r < RM; ++r) {
          const __m256i wv = LoadQuants(wr[r][b]);
          const __m256i w_abs = _mm256_sign_epi8(wv, wv);  // -128 becomes 128 as u8
#pragma GCC unroll 16
          for (int c = 0; c < RN; ++c) {
            acc[r][c] = _mm256_fmadd_ps(BlockDot(w_abs, wv, av[c]),
                                        _mm256_broadcast_ss(&scale[r][c][i]), acc[r][c]);
          }
        }
      }
    }
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) {
        chain_sum[r][c] = k == 0 ? acc[r][c] : _mm256_add_ps(chain_sum[r][c], acc[r][c]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) out[c * out_stride + r] = HorizontalSum(chain_sum[r][c]);
  }
}

// Decode: the dot product of one weight row with the activation row a over
// nb blocks, both chains side by side (MicroTile's terms in the same order),
// prefetching kStreamPrefetchAhead on.
float DecodeRow(int64_t nb, const BlockQ8_0* row, const BlockQ8_0* a) {
  __m256 acc[kChains] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  alignas(32) float scale[kChains][kScaleGroup / kChains];  // d_w * d_a, block b0 + k + 2i
  for (int64_t b0 = 0; b0 < nb; b0 += kScaleGroup) {
    const int m = static_cast<int>(std::min<int64_t>(kScaleGroup, nb - b0));
    PrefetchAhead(row + b0, kScaleGroup * sizeof(BlockQ8_0));
#pragma GCC unroll 2
    for (int k = 0; k < kChains; ++k) {
      _mm256_store_ps(scale[k],
                      _mm256_mul_ps(ChainScales(row, b0, m, k), ChainScales(a, b0, m, k)));
    }
#pragma GCC unroll 16
    for (int j = 0; j < kScaleGroup; ++j) {
      if (j >= m) break;
      const int k = j % kChains, i = j / kChains;
      const __m256i wv = LoadQuants(row[b0 + j]);
      acc[k] = _mm256_fmadd_ps(BlockDot(_mm256_sign_epi8(wv, wv), wv, LoadQuants(a[b0 + j])),
                               _mm256_broadcast_ss(&scale[k][i]), acc[k]);
    }
  }
  return HorizontalSum(_mm256_add_ps(acc[0], acc[1]));
}

using MicroTileFn = void (*)(int64_t, const unsigned char*, size_t, const float*,
                             const unsigned char*, size_t, float*, size_t);

// Entry [nc - 1][mr - 1] handles mr rows of nc <= kMicroCols tokens (Tile
// decodes a tile of one token by DecodeRow). A table, not WithCount: with
// the micro-tiles inlined into Tile, decode from cache took 3-4% longer
// (Zen 5, BM_DecodeCached/q8_0/avx2).
template <int NC, size_t... I>
constexpr std::array<MicroTileFn, sizeof...(I)> MakeMicroTiles(std::index_sequence<I...>) {
  return {&MicroTile<I + 1, NC>...};
}
constexpr std::array<MicroTileFn, kMicroRows> kMicroTiles[] = {
    MakeMicroTiles<1>(std::make_index_sequence<kMicroRows>()),
    MakeMicroTiles<2>(std::make_index_sequence<kMicroRows>())};
static_assert(kMicroCols == 2);

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  if (nc == 1) {  // row after row: one stream (the rows lie end to end)
    const auto* act = reinterpret_cast<const BlockQ8_0*>(ab);
    for (int r = 0; r < nr; ++r) {
      out[r] = DecodeRow(cols / kQ8_0BlockSize,
                         reinterpret_cast<const BlockQ8_0*>(wb + r * w_stride), act);
    }
    return;
  }
  // A micro-tile's rows (4 x 4352 bytes at 4096 columns) stay in L1 while
  // the tile's tokens go by, a pair at a time.
  const int64_t nb = cols / kQ8_0BlockSize;
  thread_local std::vector<float> w_scales;
  w_scales.resize(kMicroRows * kChains * ChainLength(nb));
  for (int r0 = 0; r0 < nr; r0 += kMicroRows) {
    const int mr = std::min(kMicroRows, nr - r0);
    ChainScalesOf(wb + r0 * w_stride, w_stride, mr, nb, w_scales.data());
    for (int c0 = 0; c0 < nc; c0 += kMicroCols) {
      const int mc = std::min(kMicroCols, nc - c0);
      kMicroTiles[mc - 1][mr - 1](cols, wb + r0 * w_stride, w_stride, w_scales.data(),
                                  ab + c0 * a_stride, a_stride, out + c0 * out_stride + r0,
                                  out_stride);
    }
  }
}

#ifdef __AVXVNNI__
// With AVX-VNNI, the weights in panels, offset to u8, as the AVX-512 kernel
// takes them (panel_layout.h): vector j of a panel block holds bytes 4j ..
// 4j + 3 of the block of each of 16 rows, plus 128; its half h (32 bytes) the
// rows 8h .. 8h + 7, a lane each. vpdpbusd advances 8 dot products by 4
// weights against 4 activation bytes broadcast from the Q8_0 block, with no
// sign trick and no horizontal sums, and the offset's share (128 x the sum of
// the block's activations) is taken off once per block: the activations are
// Q8_0 with offset shares (activation_layout.h). A block's term for a token
// is added as AddBlockTerm does, in block order, whether the token is decoded
// alone or with others (prefill, speculative verification), so its bits do
// not depend on its batch. Without AVX-VNNI this cannot work: vpmaddubsw on
// w + 128 saturates its i16.
constexpr int kPanelTileCols = 64;  // tokens per panel tile
constexpr int kChunkBlocks = 16;    // blocks of a panel a group of tokens passes over: 8.5 KiB
constexpr int kColGroup = 4;        // tokens whose dot products are in registers at once

void ConvertOffsetActivations(const float* x, int64_t cols, void* out) {
  ConvertActivations(x, cols, out);
  AddQ8_0OffsetShares(out, cols);
}

// sum + (dots - the offset's share) x a's scale x w_scale: block b's term of
// one token's dot products with 8 rows.
inline __m256 AddBlockTerm(__m256i dots, const Q8_0OffsetRow& a, int64_t b, __m256 w_scale,
                           __m256 sum) {
  const __m256i exact = _mm256_sub_epi32(dots, _mm256_set1_epi32(a.offset_share[b]));
  const __m256 scaled = _mm256_mul_ps(_mm256_cvtepi32_ps(exact), _mm256_set1_ps(a.scale[b]));
  return _mm256_fmadd_ps(scaled, w_scale, sum);
}

// Decode (one token) on a panel of nb blocks: out[r] = the dot product of
// row r. A pair of blocks at a time, at fixed offsets, the pair 8 KiB on
// prefetched, as the AVX-512 kernel.
void PanelDecode(int64_t nb, const unsigned char* panel, const Q8_0OffsetRow& a, float* out) {
  __m256 sum[2] = {_mm256_setzero_ps(), _mm256_setzero_ps()};
  auto block = [&](const unsigned char* d, const unsigned char* qs, int64_t b) {
    const auto* aq = reinterpret_cast<const unsigned char*>(a.blocks[b].qs);
    __m256i dot[2] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m256i x = Broadcast32x8(aq + 4 * j);
      for (int h = 0; h < 2; ++h) dot[h] = DotU8S8(dot[h], Load256(qs + 64 * j + 32 * h), x);
    }
    for (int h = 0; h < 2; ++h) sum[h] = AddBlockTerm(dot[h], a, b, LoadF16x8(d + 16 * h), sum[h]);
  };
  int64_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    const unsigned char* pair = panel + (b / 2) * kQ8_0PanelPair;
    PrefetchAhead(pair, kQ8_0PanelPair);
    block(pair + kQ8_0PanelD0, pair + kQ8_0PanelQs0, b);
    block(pair + kQ8_0PanelD1, pair + kQ8_0PanelQs1, b + 1);
  }
  if (b < nb) block(panel + Q8_0PanelD(b), panel + Q8_0PanelQs(b, nb), b);
  for (int h = 0; h < 2; ++h) _mm256_storeu_ps(out + 8 * h, sum[h]);
}

// acc[c][r] += the dot products of panel row r with activation row a[c],
// blocks b0 .. b0 + m - 1 (prefill): NC tokens' integer sums in registers,
// each block's term added to acc as PanelDecode adds it.
template <int NC>
void GroupChunk(int64_t nb, const unsigned char* panel, int64_t b0, int64_t m,
                const Q8_0OffsetRow* a, float (*acc)[kPanelRows]) {
  for (int64_t b = b0; b < b0 + m; ++b) {
    const unsigned char* qs = panel + Q8_0PanelQs(b, nb);
    __m256i dot[NC][2];
#pragma GCC unroll 8
    for (int c = 0; c < NC; ++c) dot[c][0] = dot[c][1] = _mm256_setzero_si256();
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m256i w0 = Load256(qs + 64 * j), w1 = Load256(qs + 64 * j + 32);
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) {
        const __m256i x =
            Broadcast32x8(reinterpret_cast<const unsigned char*>(a[c].blocks[b].qs) + 4 * j);
        dot[c][0] = DotU8S8(dot[c][0], w0, x);
        dot[c][1] = DotU8S8(dot[c][1], w1, x);
      }
    }
    const unsigned char* d = panel + Q8_0PanelD(b);
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256 w_scale = LoadF16x8(d + 16 * h);
#pragma GCC unroll 8
      for (int c = 0; c < NC; ++c) {
        float* out = acc[c] + 8 * h;
        _mm256_store_ps(out, AddBlockTerm(dot[c][h], a[c], b, w_scale, _mm256_load_ps(out)));
      }
    }
  }
}

using GroupChunkFn = void (*)(int64_t, const unsigned char*, int64_t, int64_t, const Q8_0OffsetRow*,
                              float (*)[kPanelRows]);
template <size_t... I>
constexpr std::array<GroupChunkFn, sizeof...(I)> MakeGroupChunks(std::index_sequence<I...>) {
  return {&GroupChunk<I + 1>...};
}
constexpr auto kGroupChunks = MakeGroupChunks(std::make_index_sequence<kColGroup>());

// A panel of 16 rows (panel_layout.h): w points at the panel, nr == 16. The
// panel goes by chunks of kChunkBlocks blocks, which each group of
// kColGroup tokens reads from L1.
void PanelTile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
               int nc, float* out, size_t out_stride) {
  const int64_t nb = cols / kQ8_0BlockSize;
  const auto* panel = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  if (nc == 1) {
    PanelDecode(nb, panel, Q8_0OffsetRowAt(ab, nb), out);
    return;
  }
  alignas(32) float acc[kPanelTileCols][kPanelRows] = {};
  Q8_0OffsetRow rows[kPanelTileCols];
  for (int c = 0; c < nc; ++c) rows[c] = Q8_0OffsetRowAt(ab + c * a_stride, nb);
  for (int64_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
    const int64_t m = std::min<int64_t>(kChunkBlocks, nb - b0);
    PrefetchAhead(panel + Q8_0PanelD(b0), m * kPanelRows * sizeof(BlockQ8_0));
    for (int c0 = 0; c0 < nc; c0 += kColGroup) {
      kGroupChunks[std::min(kColGroup, nc - c0) - 1](nb, panel, b0, m, rows + c0, acc + c0);
    }
  }
  for (int c = 0; c < nc; ++c) std::memcpy(out + c * out_stride, acc[c], nr * sizeof(float));
}
// GGUF rows take Tile, up to kPanelRows x kPanelTileCols (the panel tile's
// size, which the kernel declares).
static_assert(kTileCols == kPanelTileCols && kPanelRows % kMicroRows == 0);
#endif

}  // namespace

#ifdef __AVXVNNI__
extern const MatMulKernel AISCORE_AVX2_KERNEL(Q8_0) = {
    .format = Format::kQ8_0,
    .isa = kAvx2FileIsa,
    .convert_activations = ConvertOffsetActivations,
    .activation_row_bytes = ActivationRowBytesQ8_0Offset,
    .tile = Tile,
    .tile_rows = kPanelRows,
    .tile_cols = kPanelTileCols,
    .panel_tile = PanelTile};
#else
extern const MatMulKernel AISCORE_AVX2_KERNEL(Q8_0) = {
    Format::kQ8_0, kAvx2FileIsa, ConvertActivations, ActivationRowBytesQ8_0,
    Tile,          kTileRows,    kTileCols};
#endif

}  // namespace aiscore
