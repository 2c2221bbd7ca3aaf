// The panel layout (agent/cpu/panel_layout.h): every byte where the layout
// says, copied or in place, rows past the last full panel untouched; and the
// panel kernels on repacked weights against FP64 and against their own
// kernel on GGUF rows, through the kernel alone and through CpuMatMul.
#include "agent/cpu/panel_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "agent/cpu/matmul.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/quant/blocks.h"
#include "tests/cpu/matmul_problem.h"
#include "tests/nmse.h"

namespace aiscore {
namespace {

std::vector<unsigned char> RandomBytes(size_t n, std::mt19937& rng) {
  std::vector<unsigned char> out(n);
  for (unsigned char& b : out) b = static_cast<unsigned char>(rng());
  return out;
}

// Where byte `i` of GGUF block `b` of row r (within its panel) lies in the
// panel, from the layout's table: offset from the panel's start.
size_t Q2_KPanelOffset(int r, int64_t b, size_t i) {
  const size_t block = b * kPanelRows * sizeof(BlockQ2_K);
  if (i == offsetof(BlockQ2_K, d) || i == offsetof(BlockQ2_K, d) + 1) {
    return block + kQ2_KPanelD + 2 * r + (i - offsetof(BlockQ2_K, d));
  }
  if (i == offsetof(BlockQ2_K, dmin) || i == offsetof(BlockQ2_K, dmin) + 1) {
    return block + kQ2_KPanelDmin + 2 * r + (i - offsetof(BlockQ2_K, dmin));
  }
  if (i < offsetof(BlockQ2_K, qs)) {  // scales[i]
    return block + kQ2_KPanelScales + 64 * (i / 4) + 4 * r + i % 4;
  }
  const size_t q = i - offsetof(BlockQ2_K, qs);
  return block + kQ2_KPanelQs + 64 * (q / 4) + 4 * r + q % 4;
}

TEST(PanelLayoutTest, Q2_KBytesLieWhereTheLayoutSays) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  ThreadPool pool(3);
  const int64_t rows = 2 * kPanelRows + 5, cols = 3 * kSuperBlockSize;
  const size_t row_bytes = RowBytes(Format::kQ2_K, cols);
  const std::vector<unsigned char> src = RandomBytes(rows * row_bytes, rng);
  std::vector<unsigned char> copied(src.size(), 0xAA);
  RepackPanels(Format::kQ2_K, rows, cols, src.data(), copied.data(), &pool);
  std::vector<unsigned char> in_place = src;
  RepackPanels(Format::kQ2_K, rows, cols, in_place.data(), in_place.data(), &pool);
  EXPECT_EQ(copied, in_place);
  for (int64_t row = 0; row < rows; ++row) {
    for (size_t byte = 0; byte < row_bytes; ++byte) {
      const int64_t b = byte / sizeof(BlockQ2_K);
      const size_t at = row < 2 * kPanelRows
                            ? (row / kPanelRows) * kPanelRows * row_bytes +
                                  Q2_KPanelOffset(row % kPanelRows, b, byte % sizeof(BlockQ2_K))
                            : row * row_bytes + byte;  // past the panels: as it was
      ASSERT_EQ(copied[at], src[row * row_bytes + byte])
          << "row " << row << " byte " << byte << " seed " << seed;
    }
  }
}

TEST(PanelLayoutTest, OnlyQ2_KHasOne) {
  for (Format f : kAllFormats) EXPECT_EQ(HasPanelLayout(f), f == Format::kQ2_K) << FormatName(f);
}

// A Q2_K problem (tests/cpu/matmul_problem.h); with `raw`, its weights are
// blocks of random bytes with modest finite scales, the extremes quantizers
// never write.
Problem MakeQ2_KProblem(int64_t rows, int64_t cols, int64_t n, bool raw, uint32_t seed) {
  Problem p = MakeProblem(Format::kQ2_K, rows, cols, n, seed);
  if (raw) {
    std::mt19937 rng(seed);
    p.weights = RandomBytes(p.weights.size(), rng);
    for (size_t b = 0; b < p.weights.size(); b += sizeof(BlockQ2_K)) {
      for (size_t f16 : {offsetof(BlockQ2_K, d), offsetof(BlockQ2_K, dmin)}) {
        p.weights[b + f16 + 1] = static_cast<unsigned char>((rng() & 0x80) | (0x04 + rng() % 0x10));
      }
    }
    ComputeExpected(Format::kQ2_K, p);
  }
  return p;
}

std::vector<const MatMulKernel*> PanelKernels() {
  std::vector<const MatMulKernel*> out;
  for (Isa isa : kAllIsas) {
    const MatMulKernel* k = FindMatMulKernel(Format::kQ2_K, isa);
    if (k != nullptr && k->panel_tile != nullptr && IsaSupported(isa)) out.push_back(k);
  }
  return out;
}

// Decode (1 token), two tokens, partial and full token tiles; rows with and
// without a tail past the panels; quantizer-made and random-byte blocks.
TEST(PanelKernelTest, MatchesFp64AndTheSameKernelOnRows) {
  const std::vector<const MatMulKernel*> kernels = PanelKernels();
  if (kernels.empty()) GTEST_SKIP() << "no kernel this CPU runs reads panels";
  const uint32_t seed = std::random_device{}();
  const int64_t shapes[][3] = {{16, 256, 1},  {37, 768, 1}, {64, 4096, 1},
                               {33, 2304, 2}, {48, 512, 9}, {21, 1024, 70}};
  for (const MatMulKernel* k : kernels) {
    for (bool raw : {false, true}) {
      for (const auto& s : shapes) {
        const Problem p = MakeQ2_KProblem(s[0], s[1], s[2], raw, seed + s[0] + s[2]);
        const std::string what = std::string(IsaName(k->isa)) + " rows=" + std::to_string(s[0]) +
                                 " cols=" + std::to_string(s[1]) + " n=" + std::to_string(s[2]) +
                                 (raw ? " random bytes" : "") + " seed=" + std::to_string(seed);
        const std::vector<float> got = RunKernel(*k, p, /*panels=*/true);
        for (float v : got) ASSERT_TRUE(std::isfinite(v)) << what;
        EXPECT_LE(Nmse(p.expected, got), 5e-4) << what;
        const std::vector<float> rows = RunKernel(*k, p, /*panels=*/false);
        // The same integer sums and the same float operations, in the same order.
        for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], rows[i]) << what << " i=" << i;
      }
    }
  }
}

// CpuMatMul on a tensor in the panel layout: 1 to 3 threads, decode and
// prefill, 203 rows (12 panels and 11 rows past them).
TEST(PanelKernelTest, CpuMatMulReadsPanelTensors) {
  const std::vector<const MatMulKernel*> kernels = PanelKernels();
  if (kernels.empty()) GTEST_SKIP() << "no kernel this CPU runs reads panels";
  const uint32_t seed = std::random_device{}();
  for (const MatMulKernel* k : kernels) {
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      CpuMatMul mm(&pool, k->isa);
      for (int64_t n : {1, 2, 40, 130}) {
        const Problem p = MakeQ2_KProblem(203, 1024, n, false, seed + n);
        std::vector<unsigned char> panels = p.weights;
        RepackPanels(Format::kQ2_K, p.rows, p.cols, panels.data(), panels.data(), &pool);
        const WeightTensor w{"w",    Format::kQ2_K, p.rows,
                             p.cols, panels.data(), WeightLayout::kPanels16};
        std::vector<float> y(n * p.rows, NAN);
        mm.Run(w, p.x.data(), n, y.data());
        const std::vector<float> ref = RunKernel(*k, p, /*panels=*/false);
        for (size_t i = 0; i < y.size(); ++i) {
          ASSERT_EQ(y[i], ref[i]) << IsaName(k->isa) << " n=" << n << " threads=" << threads
                                  << " i=" << i << " seed=" << seed;
        }
      }
    }
  }
}

}  // namespace
}  // namespace aiscore
