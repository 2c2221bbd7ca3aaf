#include "agent/cpu/matmul.h"

#include <algorithm>

#include "agent/cpu/matmul_kernel.h"

namespace aiscore {
namespace {
// Bytes of weights a task works on: small enough to stay in L2 while all
// token tiles pass over it, large enough to amortize scheduling.
constexpr size_t kChunkBytes = 96 * 1024;
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
  // Rows per task: a multiple of the tile height, about kChunkBytes of weights,
  // and at least 4 tasks per thread so that uneven cores still balance.
  int64_t chunk = std::max<int64_t>(1, static_cast<int64_t>(kChunkBytes / w_stride));
  chunk = std::min(chunk, std::max<int64_t>(1, rows / (4 * pool_->size())));
  chunk = std::max<int64_t>(k.tile_rows, chunk / k.tile_rows * k.tile_rows);
  const auto* wbase = static_cast<const unsigned char*>(w.data);
  pool_->ParallelFor(rows, chunk, [&](int64_t row_begin, int64_t row_end, int) {
    for (int64_t j0 = 0; j0 < n; j0 += k.tile_cols) {
      const int nc = static_cast<int>(std::min<int64_t>(k.tile_cols, n - j0));
      for (int64_t i0 = row_begin; i0 < row_end; i0 += k.tile_rows) {
        const int nr = static_cast<int>(std::min<int64_t>(k.tile_rows, row_end - i0));
        k.tile(cols, wbase + i0 * w_stride, w_stride, nr, act + j0 * a_stride, a_stride, nc,
               y + j0 * rows + i0, rows);
      }
    }
  });
}

}  // namespace aiscore
