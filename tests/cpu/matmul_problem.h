// A matmul problem for kernel tests: weights quantized by the reference
// quantizer from random rows, random activations, and the FP64 product of
// the dequantized weights and the activations; and a run of one kernel over
// it tile by tile, on GGUF rows or on the panel layout.
#ifndef AISCORE_TESTS_CPU_MATMUL_PROBLEM_H_
#define AISCORE_TESTS_CPU_MATMUL_PROBLEM_H_

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/thread_pool.h"
#include "agent/quant/format.h"

namespace aiscore {

struct Problem {
  int64_t rows, cols, n;
  std::vector<unsigned char> weights;  // [rows][row_bytes], GGUF rows
  std::vector<float> x;                // [n][cols]
  std::vector<double> expected;        // [n][rows], FP64
};

// Sets p.expected to the FP64 product of the reference dequantization of
// p.weights and p.x.
inline void ComputeExpected(Format format, Problem& p) {
  const size_t row_bytes = RowBytes(format, p.cols);
  std::vector<float> deq(p.cols);
  p.expected.assign(p.n * p.rows, 0);
  for (int64_t r = 0; r < p.rows; ++r) {
    Traits(format).dequantize(&p.weights[r * row_bytes], deq.data(), p.cols);
    for (int64_t j = 0; j < p.n; ++j) {
      double s = 0;
      for (int64_t c = 0; c < p.cols; ++c) s += double(deq[c]) * p.x[j * p.cols + c];
      p.expected[j * p.rows + r] = s;
    }
  }
}

// Random weights quantized by the reference quantizer (so blocks are valid
// and realistic), random activations, and the FP64 product.
inline Problem MakeProblem(Format format, int64_t rows, int64_t cols, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Problem p{rows, cols, n, {}, {}, {}};
  const size_t row_bytes = RowBytes(format, cols);
  p.weights.resize(row_bytes * rows);
  std::vector<float> row(cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng) * 0.05f;
    Traits(format).quantize(row.data(), p.weights.data() + r * row_bytes, cols);
  }
  p.x.resize(n * cols);
  for (float& v : p.x) v = dist(rng);
  ComputeExpected(format, p);
  return p;
}

// Runs one kernel directly over the whole problem, tile by tile. With
// `panels`, on the weights repacked into the panel layout, full panels
// through panel_tile and the rows past them through tile.
inline std::vector<float> RunKernel(const MatMulKernel& k, const Problem& p, bool panels = false) {
  std::vector<unsigned char> w = p.weights;
  const WeightLayout layout = panels ? k.panel_layout : WeightLayout::kRows;
  if (panels) {
    ThreadPool pool(1);
    RepackPanels(k.format, layout, p.rows, p.cols, w.data(), w.data(), &pool);
  }
  const size_t a_stride = k.activation_row_bytes(p.cols);
  std::vector<unsigned char> act(a_stride * p.n);
  for (int64_t j = 0; j < p.n; ++j) {
    k.convert_activations(&p.x[j * p.cols], p.cols, &act[j * a_stride]);
  }
  const size_t w_stride = RowBytes(k.format, p.cols);
  std::vector<float> y(p.n * p.rows, NAN);
  for (int64_t j0 = 0; j0 < p.n; j0 += k.tile_cols) {
    for (int64_t i0 = 0; i0 < p.rows; i0 += k.tile_rows) {
      const int nr = static_cast<int>(std::min<int64_t>(k.tile_rows, p.rows - i0));
      const int nc = static_cast<int>(std::min<int64_t>(k.tile_cols, p.n - j0));
      // The rows in panels, then those past them.
      const int np = PanelRowsAt(layout, p.rows, i0, nr);
      if (np > 0) {
        k.panel_tile(p.cols, &w[i0 * w_stride], w_stride, np, &act[j0 * a_stride], a_stride, nc,
                     &y[j0 * p.rows + i0], p.rows);
      }
      if (np < nr) {
        k.tile(p.cols, &w[(i0 + np) * w_stride], w_stride, nr - np, &act[j0 * a_stride], a_stride,
               nc, &y[j0 * p.rows + i0 + np], p.rows);
      }
    }
  }
  return y;
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_CPU_MATMUL_PROBLEM_H_
