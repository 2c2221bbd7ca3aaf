// Q2_K weights x Q8_K activations on AVX-512 (F/BW/VL/DQ + VNNI).
//
// Weight rows are the vector lanes: a tile covers 16 rows, one per 32-bit
// lane. Each super-block of the 16 rows is unpacked once into a panel whose
// vector p holds weights 4p..4p+3 of every row as bytes (a 16 x 16 dword
// transpose of the packed 2-bit quants), already multiplied by the 4-bit
// scale of their group of 16 (q * scale <= 45 fits a byte, and vpmullw on
// the byte pairs cannot carry). vpdpbusd then multiplies it by the four int8
// activations at 4p of one token, broadcast straight from the Q8_K block, for
// every token of the tile (kBlockCols tokens at a time in registers): one
// instruction per 64 multiply-adds and nothing else per group. So the
// unpacking is paid once per 16 rows and super-block and reused over up to
// kTileCols tokens, and each lane ends up holding its row's dot product.
//
// The mins term is (mins x Q8_K bsums), in int32; f32 scales are applied once
// per super-block. Decode (one token) skips the panel and feeds each unpacked
// vector straight into the dot products, while the next tile's rows are
// prefetched.
//
// The transposes happen on GGUF rows only: CpuBackend repacks Q2_K matrices
// into the panel layout (panel_layout.h), whose blocks hold each vector the
// kernel computes with as it lies, and PanelTile loads them directly (for
// decode, on Zen 4, 1.7x the rows' rate).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

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
constexpr int kPositions = kSuperBlockSize / 4;  // 4-weight positions per super-block

constexpr size_t kQsOffset = offsetof(BlockQ2_K, qs);
constexpr size_t kDOffset = offsetof(BlockQ2_K, d);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);
constexpr size_t kActBsumsOffset = offsetof(BlockQ8_K, bsums);
static_assert(offsetof(BlockQ2_K, scales) == 0 && offsetof(BlockQ2_K, dmin) == kDOffset + 2);

// The scales of one super-block of 16 rows. Lane r of each vector is row r.
// The 4-bit scales and mins stay packed (byte b of sc[k] is group 4k + b) and
// are spread per group where they are used: 26 vectors of them unpacked at
// once left the dot products too few registers (decode spilled its sums).
struct Scales {
  __m512i sc[4];    // [k]: 4-bit scales of groups 4k..4k+3, a byte each
  __m512i mins[4];  // [k]: 4-bit mins of groups 4k..4k+3, a byte each
  __m512 d, dmin;   // super-block scales, f32
};

// One super-block of 16 rows, unpacked.
struct Panel {
  __m512i q[kPositions];  // [p]: scaled weights 4p..4p+3 of each row, u8 0..45
  Scales s;
};

// Fills s->sc and s->mins from v[k], lane r = scales dword k of row r (byte
// b: scale and min of group 4k + b).
void UnpackScales(const __m512i v[4], Scales* s) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  for (int k = 0; k < 4; ++k) {
    s->sc[k] = _mm512_and_si512(v[k], m4);
    s->mins[k] = _mm512_and_si512(_mm512_srli_epi32(v[k], 4), m4);
  }
}

// The scale of group g, i32 in each lane.
inline __m512i GroupScale(const Scales& s, int g) {
  return _mm512_shuffle_epi8(s.sc[g / 4], BytePattern(g % 4, 0x80));
}

// The mins of groups 2i and 2i + 1, i16 x 2 in each lane.
inline __m512i MinPair(const Scales& s, int i) {
  return _mm512_shuffle_epi8(s.mins[i / 2], BytePattern(2 * (i % 2), 2 * (i % 2) + 1));
}

// Unpacks the scales of the super-block at byte `block` of each row: 16 bytes
// of 4-bit scale and min (dwords 0..3) and d, dmin (bytes 80..83).
void LoadScales(const unsigned char* const rows[kRows], size_t block, Scales* s) {
  __m512i v[4];
  // Bytes 68..83: the last dword holds d and dmin.
  LoadTransposed4(rows, block + kDOffset + 4 - 16, v);
  s->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v[3]));
  s->dmin = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v[3], 16)));
  LoadTransposed4(rows, block, v);
  UnpackScales(v, s);
}

// The same from a panel block (panel_layout.h), where they lie transposed.
void LoadPanelScales(const unsigned char* panel, Scales* s) {
  s->d = _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kQ2_KPanelD)));
  s->dmin =
      _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(panel + kQ2_KPanelDmin)));
  __m512i v[4];
  for (int k = 0; k < 4; ++k) v[k] = _mm512_loadu_si512(panel + kQ2_KPanelScales + 64 * k);
  UnpackScales(v, s);
}

// Where a block's packed quants come from, transposed: Get(q) holds qs dword
// q = 8c + l of each row, whose bit pair p holds position 32c + 8p + l, in
// group 8c + 2p + l / 4.
// - From GGUF rows: the 64 bytes of each of the 16 rows, transposed once.
struct RowQuants {
  __m512i v[16];
  RowQuants(const unsigned char* const rows[kRows], size_t block) {
    for (int r = 0; r < kRows; ++r) v[r] = _mm512_loadu_si512(rows[r] + block + kQsOffset);
    Transpose16x16(v);
  }
  __m512i Get(int q) const { return v[q]; }
};
// - From a panel block: loaded as they lie, where they are used.
struct PanelQuants {
  const unsigned char* qs;
  __m512i Get(int q) const { return _mm512_loadu_si512(qs + 64 * q); }
};

template <class Quants>
void BuildPanel(const Quants& quants, Panel* p) {
  for (int g = 0; g < 16; ++g) {
    // The scale in both i16 halves: vpmullw then scales all four bytes.
    const __m512i sc = GroupScale(p->s, g);
    const __m512i scale = _mm512_or_si512(sc, _mm512_slli_epi32(sc, 16));
    const int c = g / 8, pair = (g / 2) % 4, l0 = 4 * (g % 2);
    for (int l = l0; l < l0 + 4; ++l) {
      const __m512i q =
          _mm512_and_si512(_mm512_srli_epi32(quants.Get(8 * c + l), 2 * pair), _mm512_set1_epi8(3));
      p->q[32 * c + 8 * pair + l] = _mm512_mullo_epi16(q, scale);
    }
  }
}

// Adds d_token * (d * sum - dmin * mins . bsums) of one token to acc[row].
inline void Finish(const Scales& s, __m512i sum, const unsigned char* act, float* acc) {
  __m512i mins = _mm512_setzero_si512();
  for (int i = 0; i < 8; ++i) {
    mins = _mm512_dpwssd_epi32(mins, MinPair(s, i), Broadcast32(act + kActBsumsOffset + 4 * i));
  }
  const __m512 f = _mm512_fmsub_ps(_mm512_cvtepi32_ps(sum), s.d,
                                   _mm512_mul_ps(_mm512_cvtepi32_ps(mins), s.dmin));
  float d;
  std::memcpy(&d, act + offsetof(BlockQ8_K, d), sizeof(d));
  _mm512_store_ps(acc, _mm512_fmadd_ps(f, _mm512_set1_ps(d), _mm512_load_ps(acc)));
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

using PanelBlockFn = void (*)(const Panel&, const unsigned char*, size_t, float*);
constexpr PanelBlockFn kPanelBlocks[kBlockCols + 1] = {nullptr,       PanelBlock<1>, PanelBlock<2>,
                                                       PanelBlock<3>, PanelBlock<4>, PanelBlock<5>,
                                                       PanelBlock<6>, PanelBlock<7>, PanelBlock<8>};

// The same for one token without a panel (decode): each unpacked vector goes
// straight into the dot products. Bit pair p is masked in place (q * 4^p <=
// 192 still fits a byte) rather than shifted down, and the sums of each pair,
// multiples of 4^p, are shifted down once at the end.
template <class Quants>
void DirectBlock(const Scales& s, const Quants& quants, const unsigned char* act, float* acc) {
  const unsigned char* a = act + kActQsOffset;
  __m512i by_pair[4];
  for (int pair = 0; pair < 4; ++pair) by_pair[pair] = _mm512_setzero_si512();
#pragma GCC unroll 4
  for (int quarter = 0; quarter < 4; ++quarter) {  // qs dwords 4 * quarter .. + 3
    const int c = quarter / 2, l0 = 4 * (quarter % 2);
    __m512i group[4];  // [pair]: groups 8c + 2 * pair + quarter % 2
    for (int pair = 0; pair < 4; ++pair) group[pair] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int l = l0; l < l0 + 4; ++l) {
      const __m512i v = quants.Get(8 * c + l);
#pragma GCC unroll 4
      for (int pair = 0; pair < 4; ++pair) {
        const __m512i w = _mm512_and_si512(v, _mm512_set1_epi8(3 << (2 * pair)));
        group[pair] = DotBroadcast(group[pair], w, a + 4 * (32 * c + 8 * pair + l));
      }
    }
#pragma GCC unroll 4
    for (int pair = 0; pair < 4; ++pair) {
      const int g = 8 * c + 2 * pair + quarter % 2;
      by_pair[pair] =
          _mm512_add_epi32(by_pair[pair], _mm512_mullo_epi32(group[pair], GroupScale(s, g)));
    }
  }
  const __m512i sum = _mm512_add_epi32(
      _mm512_add_epi32(by_pair[0], _mm512_srai_epi32(by_pair[1], 2)),
      _mm512_add_epi32(_mm512_srai_epi32(by_pair[2], 4), _mm512_srai_epi32(by_pair[3], 6)));
  Finish(s, sum, act, acc);
}

// Adds one super-block of nc tokens to acc[token][row], from its scales and quants.
template <class Quants>
void Block(const Scales& s, const Quants& quants, const unsigned char* act, size_t a_stride, int nc,
           Panel* panel, float* acc) {
  if (nc == 1) {
    DirectBlock(s, quants, act, acc);
    return;
  }
  panel->s = s;
  BuildPanel(quants, panel);
  int c = 0;
  for (; c + kBlockCols <= nc; c += kBlockCols) {
    PanelBlock<kBlockCols>(*panel, act + c * a_stride, a_stride, acc + kRows * c);
  }
  if (c < nc) kPanelBlocks[nc - c](*panel, act + c * a_stride, a_stride, acc + kRows * c);
}

// Writes acc[token][row] for rows < nr and tokens < nc to out.
void Store(const float* acc, int nr, int nc, float* out, size_t out_stride) {
  const __mmask16 mask = static_cast<__mmask16>((1u << nr) - 1);
  for (int c = 0; c < nc; ++c) {
    _mm512_mask_storeu_ps(out + c * out_stride, mask, _mm512_load_ps(acc + kRows * c));
  }
}

// The pass both tiles make over the super-blocks: block(b, panel, acc) adds
// super-block b of every token. On rows, the next tile's 16 rows (wb +
// 16 * w_stride) are prefetched as this one goes; on `panels` (wb is the
// panel, read as one stream), the bytes kStreamPrefetchAhead on.
template <class BlockFn>
void SourceTile(BlockFn block, bool panels, int64_t cols, const unsigned char* wb, size_t w_stride,
                int nr, int nc, float* out, size_t out_stride) {
  alignas(64) float acc[kTileCols * kRows];  // [token][row], tokens < nc
  std::fill_n(acc, kRows * nc, 0.0f);
  Panel panel;
  const int64_t blocks = cols / kSuperBlockSize;
  for (int64_t b = 0; b < blocks; ++b) {
    if (panels) {  // one stream
      PrefetchAhead(wb + b * kRows * sizeof(BlockQ2_K), kRows * sizeof(BlockQ2_K));
    } else {  // the next tile's 16 rows
      PrefetchShare(reinterpret_cast<uintptr_t>(wb) + kRows * w_stride, kRows * w_stride, b,
                    blocks);
    }
    block(b, &panel, acc);
  }
  Store(acc, nr, nc, out, out_stride);
}

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  // Rows past nr repeat the last row; their lanes are computed and dropped.
  const unsigned char* rows[kRows];
  for (int r = 0; r < kRows; ++r) rows[r] = wb + std::min(r, nr - 1) * w_stride;
  auto block = [&](int64_t b, Panel* panel, float* acc) {
    const size_t at = b * sizeof(BlockQ2_K);
    Scales s;
    LoadScales(rows, at, &s);
    Block(s, RowQuants(rows, at), ab + b * sizeof(BlockQ8_K), a_stride, nc, panel, acc);
  };
  SourceTile(block, false, cols, wb, w_stride, nr, nc, out, out_stride);
}

// The same on 16 rows repacked as a panel (panel_layout.h): w points at the
// panel, nr == kRows.
void PanelTile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
               int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  auto block = [&](int64_t b, Panel* panel, float* acc) {
    const unsigned char* at = wb + b * kRows * sizeof(BlockQ2_K);
    Scales s;
    LoadPanelScales(at, &s);
    Block(s, PanelQuants{at + kQ2_KPanelQs}, ab + b * sizeof(BlockQ8_K), a_stride, nc, panel, acc);
  };
  SourceTile(block, true, cols, wb, w_stride, nr, nc, out, out_stride);
}

}  // namespace

extern const MatMulKernel kQ2_KAvx512Kernel = {.format = Format::kQ2_K,
                                               .isa = Isa::kAvx512,
                                               .convert_activations = ConvertActivationsQ8_KAvx2,
                                               .activation_row_bytes = ActivationRowBytesQ8_K,
                                               .tile = Tile,
                                               .tile_rows = kRows,
                                               .tile_cols = kTileCols,
                                               .panel_tile = PanelTile};

}  // namespace aiscore
