#include "agent/cpu/matmul.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>

#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/engine/align.h"

namespace aiscore {
namespace {

// Columns per slice for prefill: kernels that can slice (f32 activations)
// cut rows longer than kSliceFloats into equal slices, so that the slice of
// the 512 or so token rows a task passes over stays in the last-level cache
// while the task's row tiles read it. Decode, and kernels that cannot slice
// or whose tile is over kMaxSliceTile floats, take whole rows.
constexpr int64_t kSliceFloats = 4096;
constexpr int kMaxSliceTile = 256;  // the partial sums of a tile, on the stack
int64_t SliceColumns(const MatMulKernel& k, int64_t cols, int64_t n) {
  if (k.k_slice_align == 0 || n <= k.tile_cols || cols <= kSliceFloats ||
      k.tile_rows * k.tile_cols > kMaxSliceTile) {
    return cols;
  }
  const int64_t slices = (cols + kSliceFloats - 1) / kSliceFloats;
  const int64_t per = (cols + slices - 1) / slices;
  return AlignUp(per, k.k_slice_align);
}

// Rows of weights one prefill task covers (several token tiles), a multiple
// of the tile height; row_bytes are those of one slice. Weights that stay in
// L2 while every token tile passes over them: about 96 KiB for quantized
// activations; 768 KiB for f32 ones (4 bytes an element against about 1.1),
// which cuts the passes over the activations, read from the last-level
// cache, by 8. At least 4 tasks per thread, so that a core slowed by another
// process does not hold up the rest.
// (Zen 4, 2 threads, F16 AVX-512, GFLOP/s for 4096x4096 / 14336x4096 /
// 4096x14336 x 512 tokens: whole rows and 96 KiB 207/212/146; slices of
// 4096 and 768 KiB 216/216/198. Quantized formats: the same within noise at
// 96 or 768 KiB.)
int64_t RowsPerTask(const MatMulKernel& k, int64_t rows, size_t row_bytes, int threads) {
  const size_t target = k.k_slice_align ? (size_t{768} << 10) : (size_t{96} << 10);
  int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(target / row_bytes));
  chunk = std::min(chunk, std::max<int64_t>(1, rows / (4 * threads)));
  return std::max<int64_t>(k.tile_rows, chunk / k.tile_rows * k.tile_rows);
}

}  // namespace

void CpuMatMul::Run(const WeightTensor& w, const float* x, int64_t n, float* y) {
  const WeightTensor* ws[] = {&w};
  float* ys[] = {y};
  RunShared(ws, x, n, ys);
}

void CpuMatMul::RunShared(std::span<const WeightTensor* const> ws, const float* x, int64_t n,
                          std::span<float* const> ys) {
  if (ws.empty()) return;
  const MatMulKernel& k = BestMatMulKernel(ws[0]->format, isa_);
  const int64_t cols = ws[0]->cols;
  // One region for all only where one kernel reads them all from the same
  // activations, one token tile (decode, verification): prefill's tasks
  // reuse each tensor's weights from cache on their own.
  bool together = n <= k.tile_cols;
  for (const WeightTensor* w : ws) {
    together = together && &BestMatMulKernel(w->format, isa_) == &k && w->cols == cols &&
               w->layout == ws[0]->layout;
  }
  if (ws.size() > 1 && !together) {
    for (size_t i = 0; i < ws.size(); ++i) RunShared(ws.subspan(i, 1), x, n, ys.subspan(i, 1));
    return;
  }
  // Rows a multiple of 4 KiB apart (f32 rows of 4096) would put the same
  // column of every token of a tile in one L1 set, more lines than its ways:
  // a line more apart spreads them.
  size_t a_stride = k.activation_row_bytes(cols);
  if (a_stride % 4096 == 0) a_stride += 64;
  if (activations_.size() < a_stride * n) activations_.resize(a_stride * n);
  unsigned char* act = activations_.data();
  pool_->ParallelFor(n, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t j = begin; j < end; ++j)
      k.convert_activations(x + j * cols, cols, act + j * a_stride);
  });

  // Panels are whole tiles: tasks start at multiples of tile_rows (16, or 32
  // for kPanels32), and a kPanels16 panel's slice [k0, k0 + kc) starts
  // kPanelRows * RowBytes(k0) into it.
  for (const WeightTensor* w : ws) {
    if (w->layout != WeightLayout::kRows &&
        (k.panel_tile == nullptr || k.panel_layout != w->layout || k.tile_rows % kPanelRows != 0)) {
      std::fprintf(stderr, "aiscore: %s is in a panel layout which the %s %s kernel cannot read\n",
                   w->name.c_str(), std::string(FormatName(w->format)).c_str(),
                   std::string(IsaName(k.isa)).c_str());
      std::abort();
    }
  }
  const int64_t slice = SliceColumns(k, cols, n);
  // Rows [row_begin, row_end) of w into y.
  auto task = [&](const WeightTensor& w, float* y, int64_t row_begin, int64_t row_end) {
    const int64_t rows = w.rows;
    const size_t w_stride = w.row_bytes();
    const auto* wbase = static_cast<const unsigned char*>(w.data);
    // One tile's dot products over a column slice, before they are added.
    float partial[kMaxSliceTile];
    for (int64_t k0 = 0; k0 < cols; k0 += slice) {
      const int64_t kc = std::min(slice, cols - k0);
      const unsigned char* w0 = wbase + RowBytes(w.format, k0);
      const unsigned char* p0 = wbase + kPanelRows * RowBytes(w.format, k0);
      const unsigned char* a0 = act + (k0 == 0 ? 0 : k.activation_row_bytes(k0));
      for (int64_t j0 = 0; j0 < n; j0 += k.tile_cols) {
        const int nc = static_cast<int>(std::min<int64_t>(k.tile_cols, n - j0));
        for (int64_t i0 = row_begin; i0 < row_end; i0 += k.tile_rows) {
          const int nr = static_cast<int>(std::min<int64_t>(k.tile_rows, row_end - i0));
          // The rows in panels, then those past them.
          const int np = PanelRowsAt(w.layout, rows, i0, nr);
          for (const auto& [first, count] : {std::pair{0, np}, std::pair{np, nr - np}}) {
            if (count == 0) continue;
            const int64_t i = i0 + first;
            auto tile = [&](float* out, size_t out_stride) {
              (first < np ? k.panel_tile : k.tile)(kc, (first < np ? p0 : w0) + i * w_stride,
                                                   w_stride, count, a0 + j0 * a_stride, a_stride,
                                                   nc, out, out_stride);
            };
            float* out = y + j0 * rows + i;
            if (k0 == 0) {
              tile(out, rows);
              continue;
            }
            tile(partial, k.tile_rows);
            for (int c = 0; c < nc; ++c) {
              for (int r = 0; r < count; ++r) out[c * rows + r] += partial[c * k.tile_rows + r];
            }
          }
        }
      }
    }
  };
  if (n > k.tile_cols) {  // prefill: one tensor
    const WeightTensor& w = *ws[0];
    const int64_t chunk = RowsPerTask(k, w.rows, RowBytes(w.format, slice), pool_->size());
    pool_->ParallelFor(w.rows, chunk, [&](int64_t b, int64_t e, int) { task(w, ys[0], b, e); });
    return;
  }
  // One token tile (decode, verification) reuses nothing and streams the
  // weights once. The unit is one tile, the tensors' tiles one after
  // another: ParallelForShares gives each thread its own stretch of them,
  // front to back in chunks that shrink to one tile where the threads meet,
  // so they finish within a tile of each other however the host's bandwidth
  // moves between them. (Zen 5, Q2_K tg256, 2 threads, with chunks of a
  // fixed size: time spent waiting in the pool 5.3% of the matmuls' at 4
  // tasks per thread, 3.5% at 12, 3.1-3.2% with shrinking chunks.)
  auto tiles = [&](const WeightTensor& w) { return (w.rows + k.tile_rows - 1) / k.tile_rows; };
  int64_t total = 0;
  for (const WeightTensor* w : ws) total += tiles(*w);
  pool_->ParallelForShares(total, 1, [&](int64_t begin, int64_t end, int) {
    int64_t first = 0;  // ws[i]'s first tile
    for (size_t i = 0; i < ws.size() && first < end; first += tiles(*ws[i]), ++i) {
      const int64_t b = std::max(begin, first), e = std::min(end, first + tiles(*ws[i]));
      if (b < e) {
        task(*ws[i], ys[i], (b - first) * k.tile_rows,
             std::min(ws[i]->rows, (e - first) * k.tile_rows));
      }
    }
  });
}

}  // namespace aiscore
