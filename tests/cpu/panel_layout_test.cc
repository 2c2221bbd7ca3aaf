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
#include <tuple>
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

// The same for Q8_0 in a row of nb blocks (the quants offset: see
// PanelByte).
size_t Q8_0PanelOffset(int r, int64_t b, size_t i, int64_t nb) {
  const size_t pair = (b / 2) * 2 * kPanelRows * sizeof(BlockQ8_0);
  const bool lone = b % 2 == 0 && b + 1 == nb;
  if (i < offsetof(BlockQ8_0, qs)) return pair + 32 * (b % 2) + 2 * r + i;
  const size_t q = i - offsetof(BlockQ8_0, qs);
  return pair + (lone ? 32 : 64 + 512 * (b % 2)) + 64 * (q / 4) + 4 * r + q % 4;
}

// Where byte `i` of row r's bytes (within its panel) lies in the panel, for
// `format` with rows of row_bytes: offset from the panel's start.
size_t PanelOffset(Format format, int r, size_t i, size_t row_bytes) {
  if (format == Format::kF16) return 2 * kPanelRows * (i / 2) + 2 * r + i % 2;
  if (format == Format::kQ8_0) {
    return Q8_0PanelOffset(r, i / sizeof(BlockQ8_0), i % sizeof(BlockQ8_0),
                           row_bytes / sizeof(BlockQ8_0));
  }
  if (format == Format::kQ4_K) {  // each block transposed in 4-byte units
    const size_t b = i / sizeof(BlockQ4_K), j = i % sizeof(BlockQ4_K);
    return b * kPanelRows * sizeof(BlockQ4_K) + 64 * (j / 4) + 4 * r + j % 4;
  }
  return Q2_KPanelOffset(r, i / sizeof(BlockQ2_K), i % sizeof(BlockQ2_K));
}

// The panel's value of GGUF byte i of a row: the same, but Q8_0 quants
// offset to unsigned.
unsigned char PanelByte(Format format, size_t i, unsigned char gguf) {
  const bool quant = format == Format::kQ8_0 && i % sizeof(BlockQ8_0) >= offsetof(BlockQ8_0, qs);
  return quant ? gguf ^ 0x80 : gguf;
}

// Where byte `byte` of row `row` lies in a matrix of `rows` rows in `layout`.
// kPanels32: in a full run of 32 rows, line j of panel block b of the run's
// panel h (0 or 1) is line 2j + h of the run's super-block b; a last 16 rows
// form one panel.
size_t LayoutOffset(Format format, WeightLayout layout, int64_t rows, int64_t row, size_t byte,
                    size_t row_bytes) {
  const int64_t panel_rows = rows / kPanelRows * kPanelRows;
  if (row >= panel_rows) return row * row_bytes + byte;  // past the panels: as it was
  const size_t in_panel = PanelOffset(format, row % kPanelRows, byte, row_bytes);
  const int64_t run = layout == WeightLayout::kPanels32 ? 2 * kPanelRows : kPanelRows;
  const int64_t first = row / run * run;
  if (first + run > panel_rows || run == kPanelRows) {  // a panel on its own
    return (row / kPanelRows) * kPanelRows * row_bytes + in_panel;
  }
  const size_t unit = kPanelRows * RowBytes(format, kSuperBlockSize);
  const size_t b = in_panel / unit, h = (row - first) / kPanelRows, in_unit = in_panel % unit;
  return first * row_bytes + 2 * b * unit + (2 * (in_unit / 64) + h) * 64 + in_unit % 64;
}

TEST(PanelLayoutTest, BytesLieWhereTheLayoutSays) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  ThreadPool pool(3);
  // Q8_0: an odd block count (a last block without a pair) and an even one.
  // kPanels32: two full runs of 32 rows and a lone panel, or one run.
  const std::tuple<Format, WeightLayout, int64_t, int64_t> cases[] = {
      {Format::kQ2_K, WeightLayout::kPanels16, 3 * kSuperBlockSize, 37},
      {Format::kQ4_K, WeightLayout::kPanels16, 3 * kSuperBlockSize, 37},
      {Format::kF16, WeightLayout::kPanels16, 37, 37},
      {Format::kQ8_0, WeightLayout::kPanels16, 7 * kQ8_0BlockSize, 37},
      {Format::kQ8_0, WeightLayout::kPanels16, 4 * kQ8_0BlockSize, 37},
      {Format::kQ2_K, WeightLayout::kPanels32, 3 * kSuperBlockSize, 5 * kPanelRows + 7},
      {Format::kQ2_K, WeightLayout::kPanels32, 2 * kSuperBlockSize, 2 * kPanelRows + 15},
      {Format::kQ4_K, WeightLayout::kPanels32, 3 * kSuperBlockSize, 5 * kPanelRows + 7}};
  for (const auto& [format, layout, cols, rows] : cases) {
    const size_t row_bytes = RowBytes(format, cols);
    const std::vector<unsigned char> src = RandomBytes(rows * row_bytes, rng);
    std::vector<unsigned char> copied(src.size(), 0xAA);
    RepackPanels(format, layout, rows, cols, src.data(), copied.data(), &pool);
    std::vector<unsigned char> in_place = src;
    RepackPanels(format, layout, rows, cols, in_place.data(), in_place.data(), &pool);
    EXPECT_EQ(copied, in_place) << FormatName(format);
    for (int64_t row = 0; row < rows; ++row) {
      for (size_t byte = 0; byte < row_bytes; ++byte) {
        const bool panel = row < rows / kPanelRows * kPanelRows;
        const size_t at = LayoutOffset(format, layout, rows, row, byte, row_bytes);
        const unsigned char gguf = src[row * row_bytes + byte];
        ASSERT_EQ(copied[at], panel ? PanelByte(format, byte, gguf) : gguf)
            << FormatName(format) << " layout " << static_cast<int>(layout) << " row " << row
            << " byte " << byte << " seed " << seed;
      }
    }
  }
}

TEST(PanelLayoutTest, OnlyQ2_KQ4_KQ8_0AndF16HaveOne) {
  for (Format f : kAllFormats) {
    const bool k_quant = f == Format::kQ2_K || f == Format::kQ4_K;
    EXPECT_EQ(HasPanelLayout(f), k_quant || f == Format::kQ8_0 || f == Format::kF16)
        << FormatName(f);
    EXPECT_EQ(HasPanelLayout(f, WeightLayout::kPanels16), HasPanelLayout(f)) << FormatName(f);
    EXPECT_EQ(HasPanelLayout(f, WeightLayout::kPanels32), k_quant) << FormatName(f);
    EXPECT_FALSE(HasPanelLayout(f, WeightLayout::kRows)) << FormatName(f);
  }
}

// Which rows of a tile a kernel's panel_tile reads, in each layout.
TEST(PanelLayoutTest, PanelRowsAtCoversTheFullPanels) {
  EXPECT_EQ(PanelRowsAt(WeightLayout::kRows, 100, 0, 16), 0);
  EXPECT_EQ(PanelRowsAt(WeightLayout::kPanels16, 100, 80, 16), 16);
  EXPECT_EQ(PanelRowsAt(WeightLayout::kPanels16, 100, 96, 4), 0);
  EXPECT_EQ(PanelRowsAt(WeightLayout::kPanels32, 100, 32, 32), 32);
  EXPECT_EQ(PanelRowsAt(WeightLayout::kPanels32, 100, 64, 32), 32);
  EXPECT_EQ(PanelRowsAt(WeightLayout::kPanels32, 100, 96, 4), 0);
  EXPECT_EQ(PanelRowsAt(WeightLayout::kPanels32, 120, 96, 24), 16);  // a lone panel, 8 rows
  EXPECT_EQ(PanelRowsAt(WeightLayout::kPanels32, 60, 32, 28), 16);
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

// A problem for a panel kernel of `format`: Q2_K as above; Q4_K and F16
// from the reference quantizer or rounding of random rows.
Problem MakePanelProblem(Format format, int64_t rows, int64_t cols, int64_t n, bool raw,
                         uint32_t seed) {
  if (format == Format::kQ2_K) return MakeQ2_KProblem(rows, cols, n, raw, seed);
  return MakeProblem(format, rows, cols, n, seed);
}

double PanelLimit(Format format) { return format == Format::kF16 ? 1e-10 : 5e-4; }

std::vector<const MatMulKernel*> PanelKernels() {
  std::vector<const MatMulKernel*> out;
  for (Format format : kAllFormats) {
    for (Isa isa : kAllIsas) {
      const MatMulKernel* k = FindMatMulKernel(format, isa);
      if (k != nullptr && k->panel_tile != nullptr && IsaSupported(isa)) out.push_back(k);
    }
  }
  return out;
}

std::string Describe(const MatMulKernel& k, const Problem& p, uint32_t seed) {
  return std::string(FormatName(k.format)) + " " + std::string(IsaName(k.isa)) +
         " rows=" + std::to_string(p.rows) + " cols=" + std::to_string(p.cols) +
         " n=" + std::to_string(p.n) + " seed=" + std::to_string(seed);
}

// Decode (1 token), two tokens, partial and full token tiles; rows with and
// without a tail past the panels; quantizer-made and (Q2_K) random-byte
// blocks; F16 rows of any length, Q8_0 rows of odd block counts.
TEST(PanelKernelTest, MatchesFp64AndTheSameKernelOnRows) {
  const std::vector<const MatMulKernel*> kernels = PanelKernels();
  if (kernels.empty()) GTEST_SKIP() << "no kernel this CPU runs reads panels";
  const uint32_t seed = std::random_device{}();
  const int64_t shapes[][3] = {{16, 256, 1},  {37, 768, 1}, {64, 4096, 1},
                               {33, 2304, 2}, {48, 512, 9}, {21, 1024, 70}};
  for (const MatMulKernel* k : kernels) {
    const bool f16 = k->format == Format::kF16;
    for (bool raw : {false, true}) {
      if (raw && k->format != Format::kQ2_K) continue;
      for (const auto& s : shapes) {
        // F16: odd lengths too; Q8_0: odd block counts too.
        const int64_t cols =
            f16 ? s[1] + s[0] % 7 : s[1] + (k->format == Format::kQ8_0 ? 32 * (s[0] % 2) : 0);
        const Problem p = MakePanelProblem(k->format, s[0], cols, s[2], raw, seed + s[0] + s[2]);
        const std::string what = Describe(*k, p, seed) + (raw ? " random bytes" : "");
        const std::vector<float> got = RunKernel(*k, p, /*panels=*/true);
        for (float v : got) ASSERT_TRUE(std::isfinite(v)) << what;
        // Random-byte blocks put up to 16 outputs far from the quantizers' shapes
        // (mins as large as scales): the activations' rounding weighs more.
        EXPECT_LE(Nmse(p.expected, got), (raw ? 2 : 1) * PanelLimit(k->format)) << what;
        const std::vector<float> rows = RunKernel(*k, p, /*panels=*/false);
        if (f16 || (k->format == Format::kQ8_0 && (p.n == 1 || k->isa == Isa::kAvxVnni))) {
          // The same products, summed in another order (Q8_0 decode on rows
          // gathers 8 blocks' integer sums before scaling them; AVX-VNNI Q8_0
          // prefill on rows runs the AVX2 micro-tiles, two chains of blocks).
          EXPECT_LE(Nmse(std::vector<double>(rows.begin(), rows.end()), got), 1e-11) << what;
          continue;
        }
        // The same integer sums and the same float operations, in the same order.
        for (size_t i = 0; i < got.size(); ++i) ASSERT_EQ(got[i], rows[i]) << what << " i=" << i;
      }
    }
  }
}

// A token's dot products do not depend on the tokens computed beside it:
// each token of a batch, bit for bit, as when it is decoded alone (what
// speculative decoding's verification relies on).
TEST(PanelKernelTest, ATokensSumsDoNotDependOnItsNeighbours) {
  const std::vector<const MatMulKernel*> kernels = PanelKernels();
  if (kernels.empty()) GTEST_SKIP() << "no kernel this CPU runs reads panels";
  const uint32_t seed = std::random_device{}();
  for (const MatMulKernel* k : kernels) {
    const int64_t n = k->tile_cols + 3;
    const int64_t cols = k->format == Format::kF16 ? 1041 : 1024;
    const Problem p = MakePanelProblem(k->format, 2 * kPanelRows, cols, n, false, seed);
    const std::vector<float> batch = RunKernel(*k, p, /*panels=*/true);
    for (int64_t j = 0; j < n; ++j) {
      Problem one = p;
      one.n = 1;
      one.x.assign(p.x.begin() + j * p.cols, p.x.begin() + (j + 1) * p.cols);
      const std::vector<float> alone = RunKernel(*k, one, /*panels=*/true);
      for (int64_t r = 0; r < p.rows; ++r) {
        ASSERT_EQ(batch[j * p.rows + r], alone[r])
            << Describe(*k, p, seed) << " token " << j << " row " << r;
      }
    }
  }
}

// CpuMatMul on a tensor in the panel layout: 1 to 3 threads, decode and
// prefill, 219 rows (13 panels, or 6 pairs and a lone panel, and 11 rows
// past them), an odd column count
// for F16 and an odd block count for Q8_0, the same values as the kernel run
// alone; and rows long enough that prefill slices them (kernels that slice),
// against FP64 and whole panels.
TEST(PanelKernelTest, CpuMatMulReadsPanelTensors) {
  const std::vector<const MatMulKernel*> kernels = PanelKernels();
  if (kernels.empty()) GTEST_SKIP() << "no kernel this CPU runs reads panels";
  const uint32_t seed = std::random_device{}();
  for (const MatMulKernel* k : kernels) {
    for (int threads : {1, 2, 3}) {
      ThreadPool pool(threads);
      CpuMatMul mm(&pool, k->isa);
      for (int64_t n : {1, 2, 40, 130}) {
        for (int64_t cols : {1024, 1041, 1056, 9000}) {
          if (cols > 4096 && (k->k_slice_align == 0 || n == 1)) continue;
          if (cols % Traits(k->format).block_size != 0) continue;
          const Problem p = MakePanelProblem(k->format, 219, cols, n, false, seed + n);
          std::vector<unsigned char> panels = p.weights;
          RepackPanels(k->format, k->panel_layout, p.rows, p.cols, panels.data(), panels.data(),
                       &pool);
          const WeightTensor w{"w", k->format, p.rows, p.cols, panels.data(), k->panel_layout};
          std::vector<float> y(n * p.rows, NAN);
          mm.Run(w, p.x.data(), n, y.data());
          const std::string what = Describe(*k, p, seed) + " threads=" + std::to_string(threads);
          const std::vector<float> ref = RunKernel(*k, p, /*panels=*/true);
          if (cols > 4096) {  // sliced: partial sums added
            EXPECT_LE(Nmse(p.expected, y), PanelLimit(k->format)) << what;
            EXPECT_LE(Nmse(std::vector<double>(ref.begin(), ref.end()), y), 1e-11) << what;
            continue;
          }
          for (size_t i = 0; i < y.size(); ++i) ASSERT_EQ(y[i], ref[i]) << what << " i=" << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace aiscore
