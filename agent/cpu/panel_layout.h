// The CPU backend's own weight layout for kernels whose vector lanes are
// weight rows (WeightLayout::kPanels16).
//
// Such a kernel (Q2_K, Q4_K and F16 on AVX2 and AVX-512, Q8_0 on AVX-VNNI and AVX-512) reads 16
// rows side by side and, from GGUF rows, would transpose them on each pass (for Q2_K decode, about
// a third of its instructions) or reduce each dot product across its lanes (F16 prefill). The
// backend therefore repacks those weights once, when it takes them, into panels: each run of 16
// rows (rows 16g .. 16g + 15) keeps its 16 * row_bytes bytes at the same place, but ordered column
// block by column block, each a 16-row block of the same bytes transposed. Rows past the last
// multiple of 16 stay as rows. A kernel then loads each vector it computes with directly. Column
// blocks follow one another, so columns [k0, k0 + kc) of a panel start 16 * RowBytes(k0) bytes into
// it (a slice, for kernels that take them).
//
// Q4_K panel block (16 x 144 = 2304 bytes, 36 cache lines): the 16 rows'
// blocks transposed in 4-byte units, byte 64u + 4r + j = byte 4u + j of row
// r's block (u < 36): d and dmin (u = 0), 6-bit scales and mins (u = 1..3),
// qs (u = 4..35).
//
// F16 panel (16 x 2 bytes per column): bytes 32k .. 32k + 31 are column k,
// row r's half at 32k + 2r.
//
// Panel pairs (WeightLayout::kPanels32, Q2_K and Q4_K): each run of 32 rows
// (32g .. 32g + 31) keeps its bytes at the same place, as the two panels of
// its rows 32g .. 32g + 15 and 32g + 16 .. 32g + 31 taken in turn, super-block
// by super-block, and within a super-block cache line by cache line: line 0
// of the first panel's block, line 0 of the second's, line 1 of the first's,
// ... (panel blocks are whole lines). A kernel that takes 32 rows at once,
// loading a vector of each panel in turn, then reads them in address order
// (two panel blocks one after the other, read that way, read at half the
// rate on Zen 4: docs/performance.md), and one activation value it loads
// serves both panels. A last run of 16 rows (rows % 32 >= 16) is one panel
// as in kPanels16; rows past the last multiple of 16 stay as rows.
//
// Q2_K panel block (16 x 84 = 1344 bytes, 21 cache lines), row r in 0..15:
//   bytes    0 ..   31: d of row r at 2r (f16)
//   bytes   32 ..   63: dmin of row r at 32 + 2r (f16)
//   bytes   64 ..  319: scales, 4 vectors of 64 bytes: byte 64 + 64k + 4r + j
//                       is scales[4k + j] of row r (k, j < 4)
//   bytes  320 .. 1343: qs, 16 vectors: byte 320 + 64q + 4r + j is
//                       qs[4q + j] of row r (q < 16, j < 4)
//
// Q8_0 panel: blocks in pairs (16 x 68 = 1088 bytes, 17 cache lines), row r
// in 0..15, the quants offset to unsigned (qs ^ 0x80 = qs + 128), as
// vpdpbusd takes them:
//   bytes    0 ..   31: d of the pair's first block, row r's at 2r (f16)
//   bytes   32 ..   63: d of its second block, row r's at 32 + 2r
//   bytes   64 ..  575: the first block's qs, 8 vectors: byte 64 + 64q + 4r + j
//                       is qs[4q + j] ^ 0x80 of row r (q < 8, j < 4)
//   bytes  576 .. 1087: the second block's qs, the same way
// A last block without a pair (an odd block count) keeps its d at 0 .. 31
// and its qs at 32 .. 543.
#ifndef AISCORE_AGENT_CPU_PANEL_LAYOUT_H_
#define AISCORE_AGENT_CPU_PANEL_LAYOUT_H_

#include <cstddef>
#include <cstdint>

#include "agent/cpu/thread_pool.h"
#include "agent/engine/weight_tensor.h"
#include "agent/quant/blocks.h"
#include "agent/quant/format.h"

namespace aiscore {

constexpr int kPanelRows = 16;
// Offsets within a Q2_K panel block (above).
constexpr size_t kQ2_KPanelD = 0, kQ2_KPanelDmin = 32, kQ2_KPanelScales = 64, kQ2_KPanelQs = 320;
// Where byte `offset` of a panel block lies from the block's first byte,
// when its lines (64 bytes) lie `line` bytes apart: 64 for a panel on its
// own, 128 in a pair (kPanels32), whose blocks' lines alternate. What
// RepackPanels writes and what PanelLines reads.
constexpr size_t PanelLineOffset(size_t offset, size_t line) {
  return offset / 64 * line + offset % 64;
}
// A panel block whose cache lines may alternate with another's (a pair):
// its line j lies at base + j * line.
struct PanelLines {
  const unsigned char* base;
  size_t line;
  // Where byte `offset` of the block lies.
  const unsigned char* At(size_t offset) const { return base + PanelLineOffset(offset, line); }
};
// Where the qs of a Q4_K panel block start (above).
constexpr size_t kQ4_KPanelQs = 256;
// Bytes of a pair of Q8_0 panel blocks, and offsets within a pair (above):
// the d and the qs of its first and second block, and the qs of a last
// block without a pair.
constexpr size_t kQ8_0PanelPair = 2 * kPanelRows * sizeof(BlockQ8_0);
constexpr size_t kQ8_0PanelD0 = 0, kQ8_0PanelD1 = 32;
constexpr size_t kQ8_0PanelQs0 = 64, kQ8_0PanelQs1 = 576, kQ8_0PanelLoneQs = 32;
// Where the d and the qs of block b (of nb) of a Q8_0 panel start.
constexpr size_t Q8_0PanelD(int64_t b) {
  return (b / 2) * kQ8_0PanelPair + (b % 2 == 0 ? kQ8_0PanelD0 : kQ8_0PanelD1);
}
constexpr size_t Q8_0PanelQs(int64_t b, int64_t nb) {
  const size_t in_pair = b % 2 == 1    ? kQ8_0PanelQs1
                         : b + 1 == nb ? kQ8_0PanelLoneQs
                                       : kQ8_0PanelQs0;
  return (b / 2) * kQ8_0PanelPair + in_pair;
}

// Whether `format` has a panel layout (Q2_K, Q4_K, Q8_0, F16), and whether
// it has `layout` (kPanels16: those four; kPanels32: Q2_K and Q4_K).
bool HasPanelLayout(Format format);
bool HasPanelLayout(Format format, WeightLayout layout);

// Writes a matrix of `rows` rows of `cols` columns in `format` from its GGUF
// rows `src` to `dst` in `layout` (one HasPanelLayout(format, layout); as
// many bytes; rows past the last multiple of 16 copied as they are), runs of
// rows spread over `pool`. src == dst repacks in place; other than that the
// two must not overlap.
void RepackPanels(Format format, WeightLayout layout, int64_t rows, int64_t cols, const void* src,
                  void* dst, ThreadPool* pool);

// Of the nr rows from row i0 (a multiple of the kernel's tile_rows, which is
// 32 for kPanels32 and at most 16 otherwise) of a matrix of `rows` rows in
// `layout`, how many its panels hold, read by a kernel's panel_tile: 0 for
// kRows; else 16 or 32 (kPanels32), or 16 (kPanels16, nr <= 16), or 0 past
// the panels. The rest (i0 + that up to i0 + nr) lie as rows.
int PanelRowsAt(WeightLayout layout, int64_t rows, int64_t i0, int nr);

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_PANEL_LAYOUT_H_
