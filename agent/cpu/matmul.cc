#include "agent/cpu/matmul.h"

#include <algorithm>

#include "agent/cpu/matmul_kernel.h"

namespace aiscore {
namespace {

// Rows of weights one task covers, a multiple of the tile height.
// - Several token tiles (prefill): about 96 KiB of weights, which stay in L2
//   while every token tile passes over them.
// - One token tile (decode, verification): nothing to reuse, so long
//   contiguous streams (about 2 MiB) that the prefetchers follow.
// Either way at least 4 tasks per thread, so that a core slowed by another
// process does not hold up the rest.
int64_t RowsPerTask(int64_t rows, size_t row_bytes, int64_t n, int tile_rows, int tile_cols,
                    int threads) {
  const size_t target = n <= tile_cols ? (size_t{2} << 20) : (size_t{96} << 10);
  int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(target / row_bytes));
  chunk = std::min(chunk, std::max<int64_t>(1, rows / (4 * threads)));
  return std::max<int64_t>(tile_rows, chunk / tile_rows * tile_rows);
}

}  // namespace

void CpuMatMul::Run(const WeightTensor& w, const float* x, int64_t n, float* y) {
  const MatMulKernel& k = BestMatMulKernel(w.format, isa_);
  const int64_t rows = w.rows, cols = w.cols;
  const size_t a_stride = k.activation_row_bytes(cols);
  if (activations_.size() < a_stride * n) activations_.resize(a_stride * n);
  unsigned char* act = activations_.data();
  pool_->ParallelFor(n, 1, [&](int64_t begin, int64_t end, int) {
    for (int64_t j = begin; j < end; ++j)
      k.convert_activations(x + j * cols, cols, act + j * a_stride);
  });

  const size_t w_stride = w.row_bytes();
  const int64_t chunk = RowsPerTask(rows, w_stride, n, k.tile_rows, k.tile_cols, pool_->size());
  const auto* wbase = static_cast<const unsigned char*>(w.data);
  // Several token tiles: a kernel that packs converts each task's rows once.
  const bool pack = k.pack_rows != nullptr && n > k.tile_cols;
  const size_t p_stride = pack ? k.packed_row_bytes(cols) : 0;
  if (pack) {
    packed_.resize(pool_->size());
    for (auto& buffer : packed_) {
      if (buffer.size() < p_stride * chunk) buffer.resize(p_stride * chunk);
    }
  }
  pool_->ParallelFor(rows, chunk, [&](int64_t row_begin, int64_t row_end, int thread) {
    const unsigned char* base = wbase + row_begin * w_stride;
    size_t stride = w_stride;
    auto* tile = k.tile;
    if (pack) {
      k.pack_rows(cols, base, w_stride, row_end - row_begin, packed_[thread].data());
      base = packed_[thread].data();
      stride = p_stride;
      tile = k.packed_tile;
    }
    for (int64_t j0 = 0; j0 < n; j0 += k.tile_cols) {
      const int nc = static_cast<int>(std::min<int64_t>(k.tile_cols, n - j0));
      for (int64_t i0 = row_begin; i0 < row_end; i0 += k.tile_rows) {
        const int nr = static_cast<int>(std::min<int64_t>(k.tile_rows, row_end - i0));
        tile(cols, base + (i0 - row_begin) * stride, stride, nr, act + j0 * a_stride, a_stride, nc,
             y + j0 * rows + i0, rows);
      }
    }
  });
}

}  // namespace aiscore
