// Q2_K weights x Q8_K activations on AVX-512 (F/BW/VL/DQ + VNNI).
//
// Weight rows are the vector lanes: a panel covers 16 rows, one per 32-bit
// lane, and a tile two panels (32 rows). For prefill, each super-block of a
// panel is unpacked once into a Panel whose vector p holds weights 4p..4p+3
// of every row as bytes (a 16 x 16 dword transpose of the packed 2-bit
// quants), already multiplied by the 4-bit scale of their group of 16 (q *
// scale <= 45 fits a byte, and vpmullw on the byte pairs cannot carry).
// vpdpbusd then multiplies it by the four int8 activations at 4p of one
// token, broadcast straight from the Q8_K block, for every token of the tile
// (kBlockCols tokens at a time in registers): one instruction per 64
// multiply-adds and nothing else per group. So the unpacking is paid once per
// 16 rows and super-block and reused over up to kTileCols tokens, and each
// lane ends up holding its row's dot product.
//
// Decode (one token) skips the Panel: each bit pair of the packed quants is
// masked in place and fed straight into the dot products, for both panels of
// the tile at once, so that each activation value broadcast serves 32 rows
// (the broadcasts were a third of the loads, and loads bound this loop on
// Zen 5). The group sums are scaled two groups per vpdpwssd, packed as i16
// pairs, each pair of scales taken from its packed bytes by a shift and a
// mask (not a vpshufb, whose pattern is one more load). Against one vpmulld
// and one add per group: 8-10% more from cache, 1-1.5% less time from DRAM
// with the host slow and none with it fast, on Zen 5 (docs/performance.md,
// "Q2_K decode: scales by vpdpwssd").
//
// The mins term is (mins x Q8_K bsums), in int32, two groups per vpdpwssd:
// the activation row's bsums come paired (PairQ8_KBsums) as the mins pair in
// each scales dword. f32 scales are applied once per super-block. Every path
// computes the same integer sums and the same float operations, so a token's
// bits do not depend on its batch.
//
// The weights are read in the backend's panel pairs (WeightLayout::kPanels32,
// panel_layout.h): the two panels of a tile as one stream. (Two panels laid
// out one after the other, two streams, read 35% less from DRAM than one.)
// Against one panel at a time with vpshufb scales, decode on Zen 5, one core:
// from L2 56 -> 72-78 GB/s, from L3 52 -> 57-61 GiB/s; from DRAM on 2 threads
// unchanged (memory bound there). GGUF rows (rows past the panels) are packed
// into a panel block on the stack as they are read, then take the same code.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/avx512_helpers.h"
#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/cpu_features.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kRows = kLaneRows;      // weight rows per panel, one per 32-bit lane
constexpr int kPairRows = 2 * kRows;  // rows per tile: a pair of panels
constexpr int kTileCols = 64;         // tokens per tile
constexpr int kBlockCols = 8;         // tokens whose accumulators live in registers at once
constexpr int kPositions = kSuperBlockSize / 4;            // 4-weight positions per super-block
constexpr size_t kPanelBlock = kRows * sizeof(BlockQ2_K);  // one super-block of a panel

constexpr size_t kQsOffset = offsetof(BlockQ2_K, qs);
constexpr size_t kDOffset = offsetof(BlockQ2_K, d);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);
constexpr size_t kActBsumsOffset = offsetof(BlockQ8_K, bsums);
static_assert(offsetof(BlockQ2_K, scales) == 0 && offsetof(BlockQ2_K, dmin) == kDOffset + 2);

// Loads of a panel block (panel_layout.h), whose lines may alternate with
// another panel's (PanelLines).
inline __m512i LoadQs(PanelLines block, int q) {
  return _mm512_loadu_si512(block.At(kQ2_KPanelQs + 64 * q));
}
// Lane r: dword k of row r's scales, byte j = the 4-bit scale (low nibble)
// and min (high nibble) of group 4k + j.
inline __m512i LoadScaleDword(PanelLines block, int k) {
  return _mm512_loadu_si512(block.At(kQ2_KPanelScales + 64 * k));
}

// Each dword of v shifted right by `shift` and masked: how the 4-bit scales
// and mins come out of a scales dword, one (mask 0x0f) or two as an i16 pair
// (mask 0x000f000f).
inline __m512i Nibbles(__m512i v, int shift, int32_t mask) {
  return _mm512_and_si512(shift == 0 ? v : _mm512_srli_epi32(v, shift), _mm512_set1_epi32(mask));
}

// The scale of group 4k + j, i32 in each lane, from v = LoadScaleDword(k).
inline __m512i GroupScale(__m512i v, int j) { return Nibbles(v, 8 * j, 0x0f); }

// The scales of groups 4k + j and 4k + j + 2 (j < 2) as an i16 pair, from
// v = LoadScaleDword(k).
inline __m512i GroupScalePair(__m512i v, int j) { return Nibbles(v, 8 * j, 0x000f000f); }

// What a panel block's dot products are finished with: its mins paired as
// i16 (mins[2k + j]: groups 4k + j and 4k + j + 2, j < 2, the nibbles of
// scales dword k) and its f32 super-block scales.
struct BlockScales {
  __m512i mins[8];
  __m512 d, dmin;
};

inline void LoadBlockScales(PanelLines block, BlockScales* s) {
  for (int k = 0; k < 4; ++k) {
    const __m512i v = LoadScaleDword(block, k);
    for (int j = 0; j < 2; ++j) {
      s->mins[2 * k + j] = Nibbles(v, 4 + 8 * j, 0x000f000f);
    }
  }
  s->d = LoadF16x16(block.At(kQ2_KPanelD));
  s->dmin = LoadF16x16(block.At(kQ2_KPanelDmin));
}

// Adds d_token * (d * sum - dmin * mins . bsums) of one token to acc[row];
// act is the token's Q8_K block, its bsums paired (dword i holds the sums of
// the groups whose mins pair in s.mins[i]).
inline void Finish(const BlockScales& s, __m512i sum, const unsigned char* act, float* acc) {
  __m512i mins = _mm512_setzero_si512();
  for (int i = 0; i < 8; ++i) {
    mins = _mm512_dpwssd_epi32(mins, s.mins[i], Broadcast32(act + kActBsumsOffset + 4 * i));
  }
  const __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(sum), s.d,
                                   _mm512_mul_ps(_mm512_cvtepi32_ps(mins), s.dmin));
  float d;
  std::memcpy(&d, act + offsetof(BlockQ8_K, d), sizeof(d));
  _mm512_store_ps(acc, _mm512_fmadd_ps(f, _mm512_set1_ps(d), _mm512_load_ps(acc)));
}

// One super-block of 16 rows, unpacked for prefill.
struct Panel {
  __m512i q[kPositions];  // [p]: scaled weights 4p..4p+3 of each row, u8 0..45
  BlockScales s;
};

// Qs dword q = 8c + l of each row holds, in bit pair p, position 32c + 8p + l,
// in group 8c + 2p + l / 4.
void BuildPanel(PanelLines block, Panel* p) {
  LoadBlockScales(block, &p->s);
  for (int g = 0; g < 16; ++g) {
    // The scale in both i16 halves: vpmullw then scales all four bytes.
    const __m512i sc = GroupScale(LoadScaleDword(block, g / 4), g % 4);
    const __m512i scale = _mm512_or_si512(sc, _mm512_slli_epi32(sc, 16));
    const int c = g / 8, pair = (g / 2) % 4, l0 = 4 * (g % 2);
    for (int l = l0; l < l0 + 4; ++l) {
      const __m512i q = _mm512_and_si512(_mm512_srli_epi32(LoadQs(block, 8 * c + l), 2 * pair),
                                         _mm512_set1_epi8(3));
      p->q[32 * c + 8 * pair + l] = _mm512_mullo_epi16(q, scale);
    }
  }
}

// Adds one super-block of K tokens to acc[token][row], from a panel. act
// points at the super-block's Q8_K block of the first token. Fewer than 4
// tokens take two accumulators each, to hide the vpdpbusd latency.
template <int K>
void PanelBlock(const Panel& p, const unsigned char* act, size_t a_stride, float* acc) {
  constexpr int kAccs = K < 4 ? 2 : 1;
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride;
  __m512i sum[K][kAccs];
  for (int c = 0; c < K; ++c) {
    for (int i = 0; i < kAccs; ++i) sum[c][i] = _mm512_setzero_si512();
  }
#pragma GCC unroll 64
  for (int pos = 0; pos < kPositions; ++pos) {
    const __m512i w = p.q[pos];
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) {
      __m512i& s = sum[c][pos % kAccs];
      s = DotBroadcast(s, w, a[c] + kActQsOffset + 4 * pos);
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < K; ++c) {
    __m512i total = sum[c][0];
    for (int i = 1; i < kAccs; ++i) total = _mm512_add_epi32(total, sum[c][i]);
    Finish(p.s, total, a[c], acc + kRows * c);
  }
}

// Adds one super-block of one token to acc[panel][row] for P panels whose
// blocks' lines alternate, panel 0's block at `first` (decode: a pair, or
// one panel). Bit pair p is masked
// in place (q * 4^p <= 192 still fits a byte) rather than shifted down; each
// group's sum, a multiple of 4^p, is shifted down before its scale.
template <int P>
void DecodeBlock(PanelLines first, const unsigned char* act, float* acc) {
  PanelLines panel[P];
  for (int p = 0; p < P; ++p) panel[p] = {first.base + 64 * p, first.line};
  // The loads below take the qs first and the scales and d after, lines
  // that lie before the qs. Where the stream is not prefetched in software
  // (kStreamPrefetch off: Zen 4), they are touched here first, in address
  // order, so that the block's misses come in address order, which the
  // hardware prefetchers follow: on Zen 4 a probe reading lines in the loads'
  // order read 8.5-10 GB/s on one core, 22 with this touch, 25 in address
  // order (docs/performance.md, "Zen 4 again"). Where it is (Zen 5), the
  // lines are on their way already, and the touch cost time: without it the
  // pair kernel took 3-6% less time with the host slow and 0.5-3% less with
  // it fast (A/B in one process; "Q2_K decode: the touch only without the
  // stream prefetch").
  if (!kStreamPrefetch) {
    for (size_t at = 0; at < kQ2_KPanelQs; at += 64) {
      for (int p = 0; p < P; ++p)
        _mm_prefetch(reinterpret_cast<const char*>(panel[p].At(at)), _MM_HINT_T0);
    }
  }
  const unsigned char* a = act + kActQsOffset;
  __m512i sum[P];
  for (int p = 0; p < P; ++p) sum[p] = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int quarter = 0; quarter < 4; ++quarter) {  // qs dwords 4 * quarter .. + 3
    const int c = quarter / 2, l0 = 4 * (quarter % 2);
    __m512i group[P][4];  // [panel][pair]: groups 8c + 2 * pair + quarter % 2
    for (int p = 0; p < P; ++p) {
      for (int pair = 0; pair < 4; ++pair) group[p][pair] = _mm512_setzero_si512();
    }
#pragma GCC unroll 4
    for (int l = l0; l < l0 + 4; ++l) {
      __m512i v[P];
      for (int p = 0; p < P; ++p) v[p] = LoadQs(panel[p], 8 * c + l);
#pragma GCC unroll 4
      for (int pair = 0; pair < 4; ++pair) {
        const __m512i mask = _mm512_set1_epi8(static_cast<char>(3 << (2 * pair)));
        const unsigned char* x = a + 4 * (32 * c + 8 * pair + l);
        if constexpr (P == 1) {
          group[0][pair] = DotBroadcast(group[0][pair], _mm512_and_si512(v[0], mask), x);
        } else {  // one broadcast for every panel
          const __m512i bx = Broadcast32(x);
          for (int p = 0; p < P; ++p) {
            group[p][pair] = _mm512_dpbusd_epi32(group[p][pair], _mm512_and_si512(v[p], mask), bx);
          }
        }
      }
    }
    // Groups g and g + 2 (bit pairs 2k and 2k + 1) are scaled by one
    // vpdpwssd: their sums, divided by 4^pair, fit an i16 (|sum| <= 16 * 3 *
    // 128), so they are packed as the i16 pair (g, g + 2), the order in
    // which scales dword g / 4 holds their scales two bytes apart.
#pragma GCC unroll 2
    for (int k = 0; k < 2; ++k) {
      const int g = 8 * c + 4 * k + quarter % 2;
      for (int p = 0; p < P; ++p) {
        const __m512i lo = k == 0 ? group[p][0] : _mm512_srai_epi32(group[p][2], 4);
        // 4^(2k + 1) * sum shifted left by 16 - 2 (2k + 1): the sum in the high i16.
        const __m512i hi = _mm512_slli_epi32(group[p][2 * k + 1], 14 - 4 * k);
        const __m512i sums = _mm512_mask_blend_epi16(0xaaaaaaaa, lo, hi);
        const __m512i scales = GroupScalePair(LoadScaleDword(panel[p], g / 4), g % 4);
        sum[p] = _mm512_dpwssd_epi32(sum[p], sums, scales);
      }
    }
  }
  for (int p = 0; p < P; ++p) {
    BlockScales s;
    LoadBlockScales(panel[p], &s);
    Finish(s, sum[p], act, acc + kRows * p);
  }
}

// Adds one super-block of nc > 1 tokens to acc[token][row], from the panel
// block at `block`.
void PrefillBlock(PanelLines block, const unsigned char* act, size_t a_stride, int nc, Panel* panel,
                  float* acc) {
  BuildPanel(block, panel);
  ForTokenBlocks<kBlockCols>(nc, [&](auto k, int c) {
    PanelBlock<k()>(*panel, act + c * a_stride, a_stride, acc + kRows * c);
  });
}

// Writes acc[token][row] for rows < nr and tokens < nc to out (acc rows
// acc_rows apart).
void Store(const float* acc, int acc_rows, int nr, int nc, float* out, size_t out_stride) {
  for (int r0 = 0; r0 < nr; r0 += kRows) {
    const int n = std::min(kRows, nr - r0);
    const __mmask16 mask = static_cast<__mmask16>((1u << n) - 1);
    for (int c = 0; c < nc; ++c) {
      _mm512_mask_storeu_ps(out + c * out_stride + r0, mask,
                            _mm512_load_ps(acc + acc_rows * c + r0));
    }
  }
}

// The pass over the super-blocks of up to 16 rows: block_of(b) gives the
// panel block of super-block b as PanelLines (and prefetches what comes
// after it).
template <class BlockOf>
void PanelPass(BlockOf block_of, int64_t cols, const unsigned char* ab, size_t a_stride, int nr,
               int nc, float* out, size_t out_stride) {
  alignas(64) float acc[kTileCols * kRows];  // [token][row], tokens < nc
  std::fill_n(acc, kRows * nc, 0.0f);
  Panel panel;
  const int64_t blocks = cols / kSuperBlockSize;
  for (int64_t b = 0; b < blocks; ++b) {
    const PanelLines block = block_of(b);
    const unsigned char* act = ab + b * sizeof(BlockQ8_K);
    if (nc == 1) {
      DecodeBlock<1>(block, act, acc);
    } else {
      PrefillBlock(block, act, a_stride, nc, &panel, acc);
    }
  }
  Store(acc, kRows, nr, nc, out, out_stride);
}

// Packs super-block `block` (a byte offset) of 16 GGUF rows into a panel
// block (panel_layout.h) at out.
void PackBlock(const unsigned char* const rows[kRows], size_t block, unsigned char* out) {
  __m512i v[16];
  Load16x16(rows, block + kQsOffset, v);
  for (int q = 0; q < 16; ++q) _mm512_storeu_si512(out + kQ2_KPanelQs + 64 * q, v[q]);
  LoadTransposed4(rows, block, v);  // scales
  for (int k = 0; k < 4; ++k) _mm512_storeu_si512(out + kQ2_KPanelScales + 64 * k, v[k]);
  // Bytes 68..83: the last dword holds d and dmin.
  LoadTransposed4(rows, block + kDOffset + 4 - 16, v);
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + kQ2_KPanelD), _mm512_cvtepi32_epi16(v[3]));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + kQ2_KPanelDmin),
                      _mm512_cvtepi32_epi16(_mm512_srli_epi32(v[3], 16)));
}

// GGUF rows: 16 at a time, each super-block packed as it is read, while the
// next 16 rows are prefetched.
void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* ab = static_cast<const unsigned char*>(a);
  for (int r0 = 0; r0 < nr; r0 += kRows) {
    const auto* wb = static_cast<const unsigned char*>(w) + r0 * w_stride;
    const int n = std::min(kRows, nr - r0);
    // Rows past n repeat the last row; their lanes are computed and dropped.
    const unsigned char* rows[kRows];
    for (int r = 0; r < kRows; ++r) rows[r] = wb + std::min(r, n - 1) * w_stride;
    alignas(64) unsigned char packed[kPanelBlock];
    const int64_t blocks = cols / kSuperBlockSize;
    auto block_of = [&](int64_t b) {
      PrefetchShare(reinterpret_cast<uintptr_t>(wb) + kRows * w_stride, kRows * w_stride, b,
                    blocks);
      PackBlock(rows, b * sizeof(BlockQ2_K), packed);
      return PanelLines{packed, 64};
    };
    PanelPass(block_of, cols, ab, a_stride, n, nc, out + r0, out_stride);
  }
}

// The same on a run of nr rows in panels (panel_layout.h): a pair of panels
// (nr == 32), their blocks in turn, their lines alternating, or a lone panel
// (nr == 16). Decode takes both panels at once, as one stream; prefill one
// panel after the other.
void PanelTile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
               int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  const int panels = nr / kRows;
  const size_t unit = panels * kPanelBlock;  // one super-block of every panel
  const int64_t blocks = cols / kSuperBlockSize;
  if (nc == 1 && panels == 2) {
    alignas(64) float acc[kPairRows] = {};
    for (int64_t b = 0; b < blocks; ++b) {
      PrefetchAhead(wb + b * unit, unit);
      DecodeBlock<2>({wb + b * unit, 128}, ab + b * sizeof(BlockQ8_K), acc);
    }
    Store(acc, kPairRows, kPairRows, 1, out, out_stride);
    return;
  }
  for (int p = 0; p < panels; ++p) {
    auto block_of = [&](int64_t b) {
      PrefetchAhead(wb + b * unit, unit);
      return PanelLines{wb + b * unit + 64 * p, 64 * static_cast<size_t>(panels)};
    };
    PanelPass(block_of, cols, ab, a_stride, kRows, nc, out + p * kRows, out_stride);
  }
}

void ConvertActivations(const float* x, int64_t cols, void* out) {
  ConvertActivationsQ8_KAvx2(x, cols, out);
  PairQ8_KBsums(out, cols);
}

}  // namespace

extern const MatMulKernel kQ2_KAvx512Kernel = {.format = Format::kQ2_K,
                                               .isa = Isa::kAvx512,
                                               .convert_activations = ConvertActivations,
                                               .activation_row_bytes = ActivationRowBytesQ8_K,
                                               .tile = Tile,
                                               .tile_rows = kPairRows,
                                               .tile_cols = kTileCols,
                                               .panel_tile = PanelTile,
                                               .panel_layout = WeightLayout::kPanels32};

}  // namespace aiscore
