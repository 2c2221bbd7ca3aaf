// Every matmul kernel (each format, each ISA this CPU supports) against the
// FP64 product of the reference-dequantized weights and the exact
// activations, on fresh random inputs; SIMD kernels also against the scalar
// kernel of their format. The driver (threads, tiles, odd shapes) too.
#include "agent/cpu/matmul.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "agent/cpu/matmul_kernel.h"
#include "agent/quant/format.h"

namespace aiscore {
namespace {

struct Problem {
  int64_t rows, cols, n;
  std::vector<unsigned char> weights;  // [rows][row_bytes]
  std::vector<float> x;                // [n][cols]
  std::vector<double> expected;        // [n][rows], FP64
};

// Random weights quantized by the reference quantizer (so blocks are valid
// and realistic), and the FP64 product with their dequantized values.
Problem MakeProblem(Format format, int64_t rows, int64_t cols, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  Problem p{rows, cols, n, {}, {}, {}};
  const FormatTraits& t = Traits(format);
  const size_t row_bytes = RowBytes(format, cols);
  p.weights.resize(row_bytes * rows);
  std::vector<float> row(cols), deq(rows * cols);
  for (int64_t r = 0; r < rows; ++r) {
    for (float& v : row) v = dist(rng) * 0.05f;
    t.quantize(row.data(), p.weights.data() + r * row_bytes, cols);
    t.dequantize(p.weights.data() + r * row_bytes, deq.data() + r * cols, cols);
  }
  p.x.resize(n * cols);
  for (float& v : p.x) v = dist(rng);
  p.expected.resize(n * rows);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t r = 0; r < rows; ++r) {
      double s = 0;
      for (int64_t c = 0; c < cols; ++c) s += double(deq[r * cols + c]) * p.x[j * cols + c];
      p.expected[j * rows + r] = s;
    }
  }
  return p;
}

double Nmse(const std::vector<double>& ref, const std::vector<float>& got) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    err += (ref[i] - got[i]) * (ref[i] - got[i]);
    norm += ref[i] * ref[i];
  }
  return err / norm;
}

// NMSE limits against FP64. F32/F16 weights see f32 accumulation only;
// quantized formats also see the 8-bit activation quantization.
double Limit(Format f) {
  switch (f) {
    case Format::kF32:
    case Format::kF16:
      return 1e-10;
    case Format::kQ8_0:
      return 2e-4;
    case Format::kQ4_K:
    case Format::kQ2_K:
      return 5e-4;
  }
  return 0;
}

// Runs one kernel directly over the whole problem, tile by tile.
std::vector<float> RunKernel(const MatMulKernel& k, const Problem& p) {
  const size_t a_stride = k.activation_row_bytes(p.cols);
  std::vector<unsigned char> act(a_stride * p.n);
  for (int64_t j = 0; j < p.n; ++j)
    k.convert_activations(&p.x[j * p.cols], p.cols, &act[j * a_stride]);
  const size_t w_stride = RowBytes(k.format, p.cols);
  std::vector<float> y(p.n * p.rows, NAN);
  for (int64_t j0 = 0; j0 < p.n; j0 += k.tile_cols) {
    for (int64_t i0 = 0; i0 < p.rows; i0 += k.tile_rows) {
      const int nr = std::min<int64_t>(k.tile_rows, p.rows - i0);
      const int nc = std::min<int64_t>(k.tile_cols, p.n - j0);
      k.tile(p.cols, &p.weights[i0 * w_stride], w_stride, nr, &act[j0 * a_stride], a_stride, nc,
             &y[j0 * p.rows + i0], p.rows);
    }
  }
  return y;
}

struct KernelCase {
  Format format;
  Isa isa;
};

std::vector<KernelCase> AllKernels() {
  std::vector<KernelCase> out;
  for (Format f : kAllFormats) {
    for (Isa isa : kAllIsas) {
      if (FindMatMulKernel(f, isa) != nullptr) out.push_back({f, isa});
    }
  }
  return out;
}

class KernelTest : public ::testing::TestWithParam<KernelCase> {};

TEST_P(KernelTest, MatchesFp64ReferenceOnRandomInputs) {
  const KernelCase c = GetParam();
  if (!IsaSupported(c.isa)) GTEST_SKIP() << "this CPU lacks " << IsaName(c.isa);
  const MatMulKernel& k = *FindMatMulKernel(c.format, c.isa);
  const MatMulKernel& scalar = *FindMatMulKernel(c.format, Isa::kScalar);
  const uint32_t seed = std::random_device{}();
  // Odd row and token counts exercise partial tiles; 768 and 2304 columns are
  // odd multiples of the K-quant super-block; 4096 is the basket's width.
  // Each shape has 64 or more outputs, so that NMSE is not one noisy ratio.
  const int64_t shapes[][3] = {
      {1, 256, 67}, {7, 768, 11}, {33, 2304, 5}, {64, 4096, 1}, {13, 512, 17}};
  for (const auto& s : shapes) {
    const Problem p = MakeProblem(c.format, s[0], s[1], s[2], seed + s[0]);
    const std::vector<float> got = RunKernel(k, p);
    for (float v : got) ASSERT_TRUE(std::isfinite(v));
    const double nmse = Nmse(p.expected, got);
    EXPECT_LE(nmse, Limit(c.format))
        << FormatName(c.format) << " " << IsaName(c.isa) << " rows=" << s[0] << " cols=" << s[1]
        << " n=" << s[2] << " seed=" << seed;
    if (c.isa != Isa::kScalar) {
      // Same activation layout, so the SIMD kernel agrees with the scalar one
      // up to float summation order.
      const std::vector<float> ref = RunKernel(scalar, p);
      std::vector<double> ref64(ref.begin(), ref.end());
      EXPECT_LE(Nmse(ref64, got), 1e-9) << "vs scalar, seed=" << seed;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(All, KernelTest, ::testing::ValuesIn(AllKernels()), [](const auto& info) {
  return std::string(Traits(info.param.format).gguf_name) + "_" +
         std::string(IsaName(info.param.isa));
});

TEST(KernelTableTest, EveryFormatHasAScalarKernel) {
  for (Format f : kAllFormats) {
    const MatMulKernel* k = FindMatMulKernel(f, Isa::kScalar);
    ASSERT_NE(k, nullptr) << FormatName(f);
    EXPECT_EQ(k->format, f);
    EXPECT_EQ(BestMatMulKernel(f, Isa::kScalar).isa, Isa::kScalar);
    EXPECT_TRUE(IsaSupported(BestMatMulKernel(f, BestIsa()).isa));
  }
}

// The threaded driver gives the same values as the kernel run alone, for
// decode (n = 1) and prefill shapes, with 1, 2 and 3 threads.
TEST(CpuMatMulTest, DriverMatchesSingleKernelRun) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    CpuMatMul mm(&pool, BestIsa());
    for (Format f : {Format::kF16, Format::kQ8_0, Format::kQ4_K, Format::kQ2_K}) {
      for (int64_t n : {1, 2, 9, 40}) {
        const Problem p = MakeProblem(f, 203, 1024, n, 1234 + n);
        WeightTensor w{"w", f, p.rows, p.cols, p.weights.data()};
        std::vector<float> y(n * p.rows);
        mm.Run(w, p.x.data(), n, y.data());
        const std::vector<float> ref = RunKernel(BestMatMulKernel(f, BestIsa()), p);
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_NEAR(y[i], ref[i], 1e-5f * (1 + std::fabs(ref[i])))
              << FormatName(f) << " n=" << n << " threads=" << threads << " i=" << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace aiscore
