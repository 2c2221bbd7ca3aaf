// Every matmul kernel (each format, each ISA this CPU supports) against the
// FP64 product of the reference-dequantized weights and the exact
// activations, on fresh random inputs; SIMD kernels also against the scalar
// kernel of their format. The driver (threads, tiles, odd shapes) too.
#include "agent/cpu/matmul.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "agent/cpu/matmul_kernel.h"
#include "agent/quant/format.h"
#include "tests/cpu/matmul_problem.h"
#include "tests/nmse.h"

namespace aiscore {
namespace {

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
    case Format::kQ6_K:
    case Format::kQ3_K:
      return 5e-4;
  }
  return 0;
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
  // One and two tokens take the kernels' decode paths.
  // Each shape has 64 or more outputs, so that NMSE is not one noisy ratio.
  const int64_t shapes[][3] = {{1, 256, 67},  {7, 768, 11},  {33, 2304, 5},
                               {64, 4096, 1}, {33, 1024, 2}, {13, 512, 17}};
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

// F32 and F16 rows need not be a multiple of any vector width: every column
// count from 1 to 70 against the scalar kernel, all tile shapes.
TEST(KernelEdgeTest, PlainFormatsTakeAnyColumnCount) {
  for (Format f : {Format::kF32, Format::kF16}) {
    for (Isa isa : kAllIsas) {
      const MatMulKernel* k = FindMatMulKernel(f, isa);
      if (k == nullptr || !IsaSupported(isa) || isa == Isa::kScalar) continue;
      for (int64_t cols = 1; cols <= 70; ++cols) {
        const Problem p = MakeProblem(f, 13, cols, 5, 100 + cols);
        const std::vector<float> got = RunKernel(*k, p);
        const std::vector<float> ref = RunKernel(*FindMatMulKernel(f, Isa::kScalar), p);
        for (size_t i = 0; i < got.size(); ++i) {
          ASSERT_NEAR(got[i], ref[i], 1e-5f * (1 + std::fabs(ref[i])))
              << FormatName(f) << " " << IsaName(isa) << " cols=" << cols;
        }
      }
    }
  }
}

// The SIMD Q8_0 kernels on p, against the scalar one.
void ExpectQ8_0KernelsMatchScalar(const Problem& p, const std::string& what) {
  const std::vector<float> ref = RunKernel(*FindMatMulKernel(Format::kQ8_0, Isa::kScalar), p);
  for (Isa isa : kAllIsas) {
    const MatMulKernel* k = FindMatMulKernel(Format::kQ8_0, isa);
    if (k == nullptr || !IsaSupported(isa) || isa == Isa::kScalar) continue;
    const std::vector<float> got = RunKernel(*k, p);
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_NEAR(got[i], ref[i], 1e-4f * (1 + std::fabs(ref[i])))
          << IsaName(isa) << " " << what << " i=" << i;
    }
  }
}

// Q8_0 blocks may hold -128 (llama.cpp never writes it, but the layout allows
// it): SIMD kernels that take absolute values must still get it right.
TEST(KernelEdgeTest, Q8_0WeightsOfMinus128) {
  Problem p = MakeProblem(Format::kQ8_0, 9, 512, 6, 77);
  const size_t row_bytes = RowBytes(Format::kQ8_0, 512);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int b = 0; b < 16; ++b) {
      p.weights[r * row_bytes + b * 34 + 2 + (r + b) % 32] = 0x80;  // qs = -128
    }
  }
  for (int64_t n : {int64_t{6}, int64_t{1}}) {  // prefill and decode paths
    p.n = n;
    ExpectQ8_0KernelsMatchScalar(p, "n=" + std::to_string(n));
  }
}

// Q8_0 decode scales its blocks in groups (8 on AVX-512, 16 on AVX2, in two
// chains of 8): block counts that are not a multiple of either, and long
// rows, against the scalar kernel.
TEST(KernelEdgeTest, Q8_0DecodeTakesAnyBlockCount) {
  for (int64_t blocks : {1, 3, 8, 13, 17, 2048, 2061}) {
    const Problem p = MakeProblem(Format::kQ8_0, 5, 32 * blocks, 1, 500 + blocks);
    ExpectQ8_0KernelsMatchScalar(p, "blocks=" + std::to_string(blocks));
  }
}

// Every kernel on rows decodes a token (one activation row) and computes it
// in a prefill tile to the same bits, as speculative decoding needs: the
// target's verification of drafted tokens must give what decoding them one
// at a time gives. Decode and prefill take different code in most kernels
// (AVX2 Q8_0: one stream with both chains side by side, against the chains
// one after the other; Q2_K on AVX-VNNI: group sums scaled, against weights
// scaled in the panel).
TEST_P(KernelTest, DecodeGivesPrefillsBits) {
  const KernelCase c = GetParam();
  if (!IsaSupported(c.isa)) GTEST_SKIP() << "this CPU lacks " << IsaName(c.isa);
  if (c.format == Format::kQ8_0 && c.isa == Isa::kAvx512) {
    // Its decode on rows sums 8 blocks at a time, in another order
    // (matmul_q8_0_avx512.cc); the engine reads Q8_0 as panels, where
    // PanelKernelTest.ATokensSumsDoNotDependOnItsNeighbours holds it.
    GTEST_SKIP() << "AVX-512 Q8_0 decode on rows differs in the last bits, as documented";
  }
  const MatMulKernel& k = *FindMatMulKernel(c.format, c.isa);
  // A block of the format, at least 32 columns (F32 and F16 have blocks of 1).
  const int64_t block = std::max(Traits(c.format).block_size, 32);
  const uint32_t seed = std::random_device{}();
  for (int64_t blocks : {1, 2, 3, 15, 16, 17, 33, 130}) {
    Problem p = MakeProblem(c.format, 13, block * blocks, 2, seed + blocks);
    const std::vector<float> batch = RunKernel(k, p);  // tiles of both tokens
    p.n = 1;
    const std::vector<float> alone = RunKernel(k, p);  // the first token decoded
    for (int64_t r = 0; r < p.rows; ++r) {
      ASSERT_EQ(alone[r], batch[r]) << "blocks=" << blocks << " row=" << r << " seed=" << seed;
    }
  }
}

// Every byte pattern is a valid K-quant block once its f16 scales are
// finite, including the extremes the reference quantizers never write (Q6_K
// scale -128, Q3_K scale code 0 = -32, all-ones quants). Blocks of random
// bytes: every kernel against FP64, SIMD kernels against the scalar one.
TEST(KernelEdgeTest, KQuantBlocksOfRandomBytes) {
  struct Case {
    Format format;
    std::vector<int> f16_offsets;  // d (and dmin) within the block
  };
  const Case cases[] = {{Format::kQ4_K, {0, 2}},
                        {Format::kQ2_K, {80, 82}},
                        {Format::kQ6_K, {208}},
                        {Format::kQ3_K, {108}}};
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  for (const Case& c : cases) {
    Problem p = MakeProblem(c.format, 37, 1024, 5, seed);
    const int block_bytes = Traits(c.format).block_bytes;
    for (unsigned char& b : p.weights) b = static_cast<unsigned char>(rng());
    for (size_t block = 0; block < p.weights.size(); block += block_bytes) {
      for (int offset : c.f16_offsets) {  // |value| in [2^-14, 2^-9): finite, modest
        p.weights[block + offset + 1] =
            static_cast<unsigned char>((rng() & 0x80) | (0x04 + rng() % 0x10));
      }
    }
    ComputeExpected(c.format, p);  // of these bytes
    for (int n : {1, 2, 5}) {
      Problem q = p;
      q.n = n;
      q.expected.resize(n * p.rows);
      const std::vector<float> ref = RunKernel(*FindMatMulKernel(c.format, Isa::kScalar), q);
      EXPECT_LE(Nmse(q.expected, ref), Limit(c.format)) << FormatName(c.format) << " seed=" << seed;
      const std::vector<double> ref64(ref.begin(), ref.end());
      for (Isa isa : kAllIsas) {
        const MatMulKernel* k = FindMatMulKernel(c.format, isa);
        if (k == nullptr || !IsaSupported(isa) || isa == Isa::kScalar) continue;
        EXPECT_LE(Nmse(ref64, RunKernel(*k, q)), 1e-9)
            << FormatName(c.format) << " " << IsaName(isa) << " n=" << n << " seed=" << seed;
      }
    }
  }
}

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
    for (Format f : {Format::kF16, Format::kQ8_0, Format::kQ4_K, Format::kQ2_K, Format::kQ6_K,
                     Format::kQ3_K}) {
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

// Prefill through kernels that slice long rows (CpuMatMul cuts rows over
// 4096 columns into slices and adds their partial sums) keeps the kernel's
// accuracy against FP64 and agrees with whole-row tiles up to summation
// order: slices that split unevenly (4097: two of 2064 and 2033; 9000:
// three), partial row and token tiles, 1 to 3 threads, every ISA that has a
// slicing kernel.
TEST(CpuMatMulTest, SlicedPrefillMatchesFp64AndWholeRows) {
  const uint32_t seed = std::random_device{}();
  int checked = 0;
  for (Isa isa : kAllIsas) {
    if (!IsaSupported(isa)) continue;
    for (Format f : kAllFormats) {
      const MatMulKernel* k = FindMatMulKernel(f, isa);
      if (k == nullptr || k->k_slice_align == 0) continue;
      for (int threads : {1, 3}) {
        ThreadPool pool(threads);
        CpuMatMul mm(&pool, isa);
        for (int64_t cols : {4097, 9000}) {
          const int64_t n = k->tile_cols * 3 + 1;
          const Problem p = MakeProblem(f, 2 * k->tile_rows + 5, cols, n, seed + cols + threads);
          WeightTensor w{"w", f, p.rows, p.cols, p.weights.data()};
          std::vector<float> y(n * p.rows, NAN);
          mm.Run(w, p.x.data(), n, y.data());
          const std::string what = std::string(FormatName(f)) + " " + std::string(IsaName(isa)) +
                                   " cols=" + std::to_string(cols) +
                                   " threads=" + std::to_string(threads) +
                                   " seed=" + std::to_string(seed);
          EXPECT_LE(Nmse(p.expected, y), Limit(f)) << what;
          const std::vector<float> whole = RunKernel(*k, p);
          std::vector<double> whole64(whole.begin(), whole.end());
          EXPECT_LE(Nmse(whole64, y), 1e-11) << what;
          ++checked;
        }
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no kernel this CPU runs slices its rows";
}

// Matmuls that read the same activations, run as one (RunShared), give
// each tensor exactly what it gets alone: tensors of different heights
// (whole tiles, a partial tile, fewer rows than a tile), decode and prefill,
// GGUF rows and the kernel's panel layout, 1 to 3 threads, every ISA; and
// tensors of different formats (as in Q4_K_M files) run one by one.
TEST(CpuMatMulTest, SharedActivationsGiveWhatEachTensorGetsAlone) {
  const uint32_t seed = std::random_device{}();
  for (Isa isa : kAllIsas) {
    if (!IsaSupported(isa)) continue;
    for (Format f : {Format::kF16, Format::kQ8_0, Format::kQ4_K, Format::kQ2_K, Format::kQ6_K}) {
      const MatMulKernel& k = BestMatMulKernel(f, isa);
      for (bool panels : {false, true}) {
        if (panels && k.panel_tile == nullptr) continue;
        for (int threads : {1, 2, 3}) {
          ThreadPool pool(threads);
          CpuMatMul mm(&pool, isa);
          for (int64_t n : {int64_t{1}, int64_t{k.tile_cols} + 1}) {
            const std::string what = std::string(FormatName(f)) + " " + std::string(IsaName(isa)) +
                                     (panels ? " panels" : " rows") +
                                     " threads=" + std::to_string(threads) +
                                     " n=" + std::to_string(n) + " seed=" + std::to_string(seed);
            std::vector<Problem> ps;
            std::vector<WeightTensor> ws;
            for (int64_t rows : {int64_t{4} * k.tile_rows, int64_t{k.tile_rows} + 7, int64_t{5}}) {
              ps.push_back(MakeProblem(f, rows, 512, n, seed + static_cast<uint32_t>(rows)));
            }
            ps[1].x = ps[2].x = ps[0].x;  // the same activations
            for (Problem& p : ps) {
              WeightTensor w{"w", f, p.rows, p.cols, p.weights.data()};
              if (panels && HasPanelLayout(f, k.panel_layout)) {
                RepackPanels(f, k.panel_layout, p.rows, p.cols, p.weights.data(), p.weights.data(),
                             &pool);
                w.layout = k.panel_layout;
              }
              ws.push_back(w);
            }
            std::vector<std::vector<float>> alone, shared;
            for (const WeightTensor& w : ws) {
              alone.emplace_back(n * w.rows, NAN);
              mm.Run(w, ps[0].x.data(), n, alone.back().data());
              shared.emplace_back(n * w.rows, NAN);
            }
            const WeightTensor* wp[] = {&ws[0], &ws[1], &ws[2]};
            float* yp[] = {shared[0].data(), shared[1].data(), shared[2].data()};
            mm.RunShared(wp, ps[0].x.data(), n, yp);
            for (size_t t = 0; t < ws.size(); ++t) {
              for (size_t i = 0; i < alone[t].size(); ++i) {
                ASSERT_EQ(shared[t][i], alone[t][i]) << what << " tensor " << t << " i=" << i;
              }
            }
          }
        }
      }
    }
  }
  // Different formats: each runs with its own kernel.
  ThreadPool pool(2);
  CpuMatMul mm(&pool, BestIsa());
  const Problem a = MakeProblem(Format::kQ4_K, 70, 512, 1, seed);
  Problem b = MakeProblem(Format::kQ6_K, 40, 512, 1, seed + 1);
  b.x = a.x;
  b.expected.clear();
  ComputeExpected(Format::kQ6_K, b);
  const WeightTensor wa{"a", Format::kQ4_K, a.rows, a.cols, a.weights.data()};
  const WeightTensor wb{"b", Format::kQ6_K, b.rows, b.cols, b.weights.data()};
  std::vector<float> ya(a.rows, NAN), yb(b.rows, NAN), ra(a.rows), rb(b.rows);
  const WeightTensor* wp[] = {&wa, &wb};
  float* yp[] = {ya.data(), yb.data()};
  mm.RunShared(wp, a.x.data(), 1, yp);
  mm.Run(wa, a.x.data(), 1, ra.data());
  mm.Run(wb, a.x.data(), 1, rb.data());
  EXPECT_EQ(ya, ra);
  EXPECT_EQ(yb, rb);
  EXPECT_LE(Nmse(b.expected, yb), Limit(Format::kQ6_K));
}

}  // namespace
}  // namespace aiscore
