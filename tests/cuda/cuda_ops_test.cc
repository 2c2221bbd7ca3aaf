// Every op of the CUDA backend against the CPU backend's scalar kernels, the
// portable reference (itself tested against FP64 in tests/cpu and
// tests/engine), on fresh random inputs: the seed is printed with every
// failure (AISCORE_TEST_SEED replays it). The reference runs on every core;
// threads change which core computes an output, not how.
//
// Limits are normalized mean squared errors (tests/nmse.h) against the
// reference, one per op and format, set where a correct GPU kernel lands
// with a wide margin and a wrong one (a bad index, a missed block, a lost
// scale) cannot: such bugs give an NMSE near 1.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "agent/cpu/cpu_backend.h"
#include "agent/engine/synthetic_weights.h"
#include "agent/quant/format.h"
#include "agent/quant/fp16.h"
#include "tests/cuda/device_vectors.h"
#include "tests/kv_cache_layout.h"
#include "tests/nmse.h"

namespace aiscore {
namespace {

// ---- Limits (NMSE against the CPU scalar reference) ----

// MatMul. F32 and F16 weights: the reference accumulates exact products in
// f32 (NMSE ~1e-11); a GPU may round activations (and F32 weights) to F16
// for tensor cores: up to 1.5e-7 on these shapes. Quantized formats: the
// reference quantizes activations to 8 bits (Q8_0 blocks; Q8_K for the
// K-quants), which costs, against exact products on these shapes, up to
// 3.5e-5 (Q8_0), 1.1e-4 (Q4_K), 7e-5 (Q6_K, Q3_K) and 3.9e-4 (Q2_K); a GPU
// that keeps f32 activations differs from it by that, one that quantizes
// them its own way by about twice that. The limits leave 5x over the former.
double MatMulLimit(Format f) {
  switch (f) {
    case Format::kF32:
    case Format::kF16:
      return 2e-6;
    case Format::kQ8_0:
      return 2e-4;
    case Format::kQ4_K:
      return 6e-4;
    case Format::kQ6_K:
    case Format::kQ3_K:
      return 4e-4;
    case Format::kQ2_K:
      return 2e-3;
  }
  return 0;
}
// Embed: a dequantized row; only the order of the scale products (a fused
// multiply-add) may differ, an ulp at most. F32 and F16 rows must be exact.
constexpr double kEmbedLimit = 1e-12;
// RmsNorm: a float reduction in another order (the reference sums in double).
constexpr double kRmsNormLimit = 1e-10;
// RopeAndStoreKv: a GPU may compute the angle pos * theta^(-2i/d) in float
// (llama.cpp does); at position 9000 that is an error of up to ~5e-4 rad in
// the fastest pairs, an NMSE up to 5e-9 (1.4e-8 after F16 rounding) over
// these heads. The reference's table is FP64.
// Rounding to F16 for the K cache adds an ulp where the values differ. The V
// cache is plain round-to-nearest-even conversion: bit-exact.
constexpr double kRopeLimit = 1e-6;
constexpr double kRopeKCacheLimit = 4e-6;
// Attention: f32 softmax in another order (decode, split over the sequence),
// or F16 queries and probabilities on tensor cores (prefill), ~1e-7.
constexpr double kAttentionLimit = 1e-5;
// SwiGlu: exp in another implementation (even the fast intrinsic).
constexpr double kSwiGluLimit = 1e-10;
// Add and Argmax: exact.

// ---- Inputs ----

class Random {
 public:
  explicit Random(uint64_t seed) : rng_(seed) {}
  float Normal() { return normal_(rng_); }
  std::vector<float> Normals(size_t n, float stddev = 1.0f) {
    std::vector<float> v(n);
    for (float& x : v) x = normal_(rng_) * stddev;
    return v;
  }
  uint64_t Next() { return rng_(); }
  int64_t Below(int64_t n) { return static_cast<int64_t>(rng_() % static_cast<uint64_t>(n)); }

 private:
  std::mt19937_64 rng_;
  std::normal_distribution<float> normal_{0.0f, 1.0f};
};

// F16 bits of values uniform in [-2, 2) (standard deviation 1.15), cheaply:
// KV caches hold millions.
std::vector<uint16_t> RandomF16(Random& rng, size_t n) {
  std::vector<uint16_t> v(n);
  for (size_t i = 0; i < n; i += 4) {
    uint64_t r = rng.Next();
    for (size_t j = i; j < std::min(n, i + 4); ++j, r >>= 16) {
      v[j] = Fp32ToFp16(static_cast<float>(static_cast<int>(r & 0xffff) - 32768) / 16384.0f);
    }
  }
  return v;
}

// A [rows][cols] matrix in `format` whose values have standard deviation
// 1/sqrt(cols): normal values through the reference quantizer (realistic
// blocks, every scale and min in use) for small tensors; for large ones,
// where that quantizer is slow, the synthetic generator's blocks and values
// from random keys.
std::vector<unsigned char> RandomWeights(Format format, int64_t rows, int64_t cols, Random& rng) {
  const FormatTraits& t = Traits(format);
  const size_t row_bytes = RowBytes(format, cols);
  std::vector<unsigned char> out(row_bytes * rows);
  const float stddev = 1.0f / std::sqrt(static_cast<float>(cols));
  if (rows * cols <= (int64_t{1} << 21)) {
    std::vector<float> row(cols);
    for (int64_t r = 0; r < rows; ++r) {
      for (float& v : row) v = rng.Normal() * stddev;
      t.quantize(row.data(), out.data() + r * row_bytes, cols);
    }
  } else if (t.block_size == 1) {
    for (int64_t r = 0; r < rows; ++r) {
      SynthesizeValues(format, stddev, rng.Next(), out.data() + r * row_bytes, cols);
    }
  } else {
    for (size_t b = 0; b < out.size() / t.block_bytes; ++b) {
      SynthesizeBlock(format, stddev, rng.Next(), out.data() + b * t.block_bytes);
    }
  }
  return out;
}

// The reference: scalar kernels on every core, one per process.
CpuBackend& ScalarCpu() {
  static CpuBackend* cpu = new CpuBackend(0, Isa::kScalar);
  return *cpu;
}

std::string FormatParamName(const ::testing::TestParamInfo<Format>& info) {
  return std::string(Traits(info.param).gguf_name);
}

bool AllFinite(const std::vector<float>& v) {
  return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
}

std::vector<float> DecodeF16(const uint16_t* h, size_t n) {
  std::vector<float> f(n);
  for (size_t i = 0; i < n; ++i) f[i] = Fp16ToFp32(h[i]);
  return f;
}

// ---- Embed ----

class EmbedTest : public CudaTestWithParam<Format> {};

TEST_P(EmbedTest, RowsMatchTheReferenceDequantization) {
  const Format format = GetParam();
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Random rng(seed);
  for (const int64_t cols : {256, 4096}) {
    const int64_t rows = 301;
    const std::vector<unsigned char> table = RandomWeights(format, rows, cols, rng);
    ASSIGN_OR_FAIL(DeviceTensor device_table, UploadTensor(cuda(), format, rows, cols, table));
    for (const int64_t n : {1, 37}) {
      SCOPED_TRACE(::testing::Message() << "cols " << cols << " n " << n);
      std::vector<int32_t> ids(n);
      for (int32_t& id : ids) id = static_cast<int32_t>(rng.Below(rows));
      ids[0] = static_cast<int32_t>(rows - 1);  // the last row, then the first, twice
      if (n > 2) ids[1] = 0, ids[2] = 0;
      ASSIGN_OR_FAIL(auto device_ids, DeviceVector<int32_t>::Upload(cuda(), ids));
      ASSIGN_OR_FAIL(auto out, DeviceVector<float>::Allocate(cuda(), n * cols));
      cuda().Embed(device_table.tensor, device_ids.data(), n, out.data());
      ASSIGN_OR_FAIL(const std::vector<float> got, out.Download());
      std::vector<float> want(n * cols);
      ScalarCpu().Embed(HostTensor(format, rows, cols, table), ids.data(), n, want.data());
      ASSERT_TRUE(AllFinite(got));
      EXPECT_LE(Nmse(want, got), kEmbedLimit);
      if (format == Format::kF32 || format == Format::kF16) {
        EXPECT_EQ(got, want);
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, EmbedTest, ::testing::ValuesIn(kAllFormats), FormatParamName);

// ---- RmsNorm ----

class RmsNormTest : public CudaTest {};

TEST_F(RmsNormTest, MatchesTheReference) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Random rng(seed);
  for (const int64_t d : {256, 512, 4096, 5120}) {
    std::vector<float> weight = rng.Normals(d, 0.1f);
    for (float& w : weight) w += 1.0f;
    std::vector<unsigned char> weight_bytes(d * sizeof(float));
    std::memcpy(weight_bytes.data(), weight.data(), weight_bytes.size());
    ASSIGN_OR_FAIL(DeviceTensor device_weight,
                   UploadTensor(cuda(), Format::kF32, 1, d, weight_bytes));
    for (const int64_t n : {1, 7, 100}) {
      SCOPED_TRACE(::testing::Message() << "d " << d << " n " << n);
      std::vector<float> x = rng.Normals(n * d, 3.0f);
      // The last row is small, so that eps matters.
      for (int64_t c = 0; c < d; ++c) x[(n - 1) * d + c] *= 1e-3f;
      ASSIGN_OR_FAIL(auto device_x, DeviceVector<float>::Upload(cuda(), x));
      ASSIGN_OR_FAIL(auto out, DeviceVector<float>::Allocate(cuda(), n * d));
      cuda().RmsNorm(device_x.data(), device_weight.tensor, n, d, 1e-5f, out.data());
      ASSIGN_OR_FAIL(const std::vector<float> got, out.Download());
      std::vector<float> want(n * d);
      ScalarCpu().RmsNorm(x.data(), HostTensor(Format::kF32, 1, d, weight_bytes), n, d, 1e-5f,
                          want.data());
      ASSERT_TRUE(AllFinite(got));
      EXPECT_LE(Nmse(want, got), kRmsNormLimit);
    }
  }
}

// ---- MatMul ----

class MatMulTest : public CudaTestWithParam<Format> {};

// Token counts on both sides of the backend's switch from its own
// decode-sized kernels (n <= 8) to F16 dequantization and cuBLAS.
constexpr int64_t kAllTokenCounts[] = {1, 2, 3, 5, 8, 9, 16, 33, 100};

TEST_P(MatMulTest, MatchesTheReference) {
  const Format format = GetParam();
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Random rng(seed);
  struct Shape {
    int64_t rows, cols;
    std::vector<int64_t> token_counts;
  };
  const std::vector<int64_t> all(std::begin(kAllTokenCounts), std::end(kAllTokenCounts));
  // Odd row counts; columns one super-block, odd multiples of it (768,
  // 2304), the basket's widths (4096, and 14336 = d_ff); 600 tokens of
  // 14336 columns, more than one pass of the backend's F16 activation
  // scratch; two of the 7B model's feed-forward matrices at full size.
  const Shape shapes[] = {{7, 256, all},      {33, 768, all},        {129, 2304, all},
                          {301, 4096, all},   {64, 14336, all},      {1000, 512, all},
                          {64, 14336, {600}}, {4096, 14336, {1, 9}}, {14336, 4096, {2, 33}}};
  constexpr int64_t kGuard = 67;  // floats past y that must stay untouched
  constexpr float kSentinel = 12345.0f;
  for (const Shape& shape : shapes) {
    const int64_t rows = shape.rows, cols = shape.cols;
    const int64_t max_n = *std::max_element(shape.token_counts.begin(), shape.token_counts.end());
    const std::vector<unsigned char> w = RandomWeights(format, rows, cols, rng);
    ASSIGN_OR_FAIL(DeviceTensor device_w, UploadTensor(cuda(), format, rows, cols, w));
    const std::vector<float> x = rng.Normals(max_n * cols);
    ASSIGN_OR_FAIL(auto device_x, DeviceVector<float>::Upload(cuda(), x));
    for (const int64_t n : shape.token_counts) {
      SCOPED_TRACE(::testing::Message()
                   << FormatName(format) << " rows " << rows << " cols " << cols << " n " << n);
      ASSIGN_OR_FAIL(auto y, DeviceVector<float>::Upload(
                                 cuda(), std::vector<float>(n * rows + kGuard, kSentinel)));
      cuda().MatMul(device_w.tensor, device_x.data(), n, y.data());
      ASSIGN_OR_FAIL(std::vector<float> got, y.Download());
      for (int64_t i = n * rows; i < n * rows + kGuard; ++i) {
        ASSERT_EQ(got[i], kSentinel) << "MatMul wrote past y[n][rows] at " << i - n * rows;
      }
      got.resize(n * rows);
      std::vector<float> want(n * rows);
      ScalarCpu().MatMul(HostTensor(format, rows, cols, w), x.data(), n, want.data());
      ASSERT_TRUE(AllFinite(got));
      EXPECT_LE(Nmse(want, got), MatMulLimit(format));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, MatMulTest, ::testing::ValuesIn(kAllFormats), FormatParamName);

// MatMuls: products of one x, as a layer runs q, k and v (and gate, up).
// The integer kernels quantize x once for all of them; each product against
// the reference, for decode-sized n and one past it (cuBLAS).
TEST_P(MatMulTest, SeveralProductsOfTheSameActivationsMatchTheReference) {
  const Format format = GetParam();
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Random rng(seed);
  const int64_t cols = 4096;
  const int64_t rows[] = {4096, 1024, 1024};
  std::vector<std::vector<unsigned char>> host_w;
  std::vector<DeviceTensor> device_w;
  for (const int64_t r : rows) {
    host_w.push_back(RandomWeights(format, r, cols, rng));
    ASSIGN_OR_FAIL(DeviceTensor t, UploadTensor(cuda(), format, r, cols, host_w.back()));
    device_w.push_back(std::move(t));
  }
  for (const int64_t n : {1, 3, 8, 9}) {
    SCOPED_TRACE(::testing::Message() << FormatName(format) << " n " << n);
    const std::vector<float> x = rng.Normals(n * cols);
    ASSIGN_OR_FAIL(auto device_x, DeviceVector<float>::Upload(cuda(), x));
    std::vector<DeviceVector<float>> ys;
    for (const int64_t r : rows) {
      ASSIGN_OR_FAIL(auto y, DeviceVector<float>::Upload(cuda(), std::vector<float>(n * r, 0.0f)));
      ys.push_back(std::move(y));
    }
    const WeightTensor* ws[] = {&device_w[0].tensor, &device_w[1].tensor, &device_w[2].tensor};
    float* outs[] = {ys[0].data(), ys[1].data(), ys[2].data()};
    cuda().MatMuls(ws, device_x.data(), n, outs);
    for (size_t i = 0; i < std::size(rows); ++i) {
      SCOPED_TRACE(::testing::Message() << "product " << i << " rows " << rows[i]);
      ASSIGN_OR_FAIL(std::vector<float> got, ys[i].Download());
      std::vector<float> want(n * rows[i]);
      ScalarCpu().MatMul(HostTensor(format, rows[i], cols, host_w[i]), x.data(), n, want.data());
      ASSERT_TRUE(AllFinite(got));
      EXPECT_LE(Nmse(want, got), MatMulLimit(format));
    }
  }
}

// ---- Attention geometry, for RopeAndStoreKv and Attention ----

struct AttentionCase {
  const char* name;
  int64_t n_heads, n_kv_heads, head_dim;
  float theta;
};

// Query heads per kv head 1, 4 and 8 at head_dim 64 and 128; the tiny
// preset's and target-7b's shapes among them.
constexpr AttentionCase kAttentionCases[] = {
    {"tiny_4x1_hd64", 4, 1, 64, 1e4f},       {"ratio1_4x4_hd64", 4, 4, 64, 1e4f},
    {"ratio4_8x2_hd64", 8, 2, 64, 1e4f},     {"ratio8_16x2_hd64", 16, 2, 64, 5e5f},
    {"ratio1_4x4_hd128", 4, 4, 128, 1e6f},   {"target7b_32x8_hd128", 32, 8, 128, 1e6f},
    {"ratio8_32x4_hd128", 32, 4, 128, 1e6f},
};

void PrintTo(const AttentionCase& c, std::ostream* os) { *os << c.name; }

constexpr int64_t kMaxContext = 9216;

// (tokens, position): decode at the start, short and long (past 8192, where
// a kernel splits the sequence), the cache's last row; speculative
// verification's 5 tokens; prefill at 0 and 100.
struct Span {
  int64_t n, pos;
};
constexpr Span kSpans[] = {{1, 0},    {1, 1},    {1, 63}, {1, 1000}, {1, 8999},
                           {1, 9215}, {5, 4095}, {37, 0}, {37, 100}};

AttentionShape ShapeOf(const AttentionCase& c) {
  return {c.n_heads, c.n_kv_heads, c.head_dim, c.theta, kMaxContext};
}

std::string AttentionParamName(const ::testing::TestParamInfo<AttentionCase>& info) {
  return info.param.name;
}

// ---- RopeAndStoreKv ----

class RopeTest : public CudaTestWithParam<AttentionCase> {};

TEST_P(RopeTest, RotatesAndStoresLikeTheReference) {
  const AttentionCase c = GetParam();
  const AttentionShape shape = ShapeOf(c);
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Random rng(seed);
  const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
  // The caches start full of other values; only rows pos .. pos+n-1 may change.
  const std::vector<uint16_t> k_cache0 = RandomF16(rng, kMaxContext * kv_dim);
  const std::vector<uint16_t> v_cache0 = RandomF16(rng, kMaxContext * kv_dim);
  ASSIGN_OR_FAIL(auto k_cache, DeviceVector<uint16_t>::Upload(cuda(), k_cache0));
  ASSIGN_OR_FAIL(auto v_cache, DeviceVector<uint16_t>::Upload(cuda(), v_cache0));
  for (const Span& span : kSpans) {
    const int64_t n = span.n, pos = span.pos;
    SCOPED_TRACE(::testing::Message() << c.name << " n " << n << " pos " << pos);
    std::vector<float> q = rng.Normals(n * q_dim), k = rng.Normals(n * kv_dim);
    const std::vector<float> v = rng.Normals(n * kv_dim);
    ASSIGN_OR_FAIL(auto device_q, DeviceVector<float>::Upload(cuda(), q));
    ASSIGN_OR_FAIL(auto device_k, DeviceVector<float>::Upload(cuda(), k));
    ASSIGN_OR_FAIL(auto device_v, DeviceVector<float>::Upload(cuda(), v));
    ASSERT_STATUS_OK(k_cache.Write(k_cache0));
    ASSERT_STATUS_OK(v_cache.Write(v_cache0));
    cuda().RopeAndStoreKv(device_q.data(), device_k.data(), device_v.data(), n, pos, shape,
                          k_cache.data(), v_cache.data());
    ASSIGN_OR_FAIL(const std::vector<float> got_q, device_q.Download());
    ASSIGN_OR_FAIL(const std::vector<float> got_k, device_k.Download());
    ASSIGN_OR_FAIL(const std::vector<uint16_t> got_k_cache, k_cache.Download());
    ASSIGN_OR_FAIL(const std::vector<uint16_t> got_v_cache, v_cache.Download());

    // The reference stores in its own layout; compared in the CUDA backend's.
    std::vector<uint16_t> want_k_cache = RelayKvCache(k_cache0, cuda(), ScalarCpu(), shape);
    std::vector<uint16_t> want_v_cache = RelayKvCache(v_cache0, cuda(), ScalarCpu(), shape);
    ScalarCpu().RopeAndStoreKv(q.data(), k.data(), v.data(), n, pos, shape, want_k_cache.data(),
                               want_v_cache.data());
    want_k_cache = RelayKvCache(want_k_cache, ScalarCpu(), cuda(), shape);
    want_v_cache = RelayKvCache(want_v_cache, ScalarCpu(), cuda(), shape);
    ASSERT_TRUE(AllFinite(got_q) && AllFinite(got_k));
    EXPECT_LE(Nmse(q, got_q), kRopeLimit) << "q";
    EXPECT_LE(Nmse(k, got_k), kRopeLimit) << "k";
    // Rows outside [pos, pos + n) keep their bytes; V rows are bit-exact.
    const int64_t first = pos * kv_dim, last = (pos + n) * kv_dim;
    EXPECT_TRUE(std::equal(got_k_cache.begin(), got_k_cache.begin() + first, k_cache0.begin()))
        << "K cache rows before pos changed";
    EXPECT_TRUE(std::equal(got_k_cache.begin() + last, got_k_cache.end(), k_cache0.begin() + last))
        << "K cache rows after pos + n changed";
    EXPECT_EQ(got_v_cache, want_v_cache) << "V cache bytes";
    const std::vector<float> want_rows = DecodeF16(&want_k_cache[first], last - first);
    const std::vector<float> got_rows = DecodeF16(&got_k_cache[first], last - first);
    ASSERT_TRUE(AllFinite(got_rows));
    EXPECT_LE(Nmse(want_rows, got_rows), kRopeKCacheLimit) << "K cache rows";
  }
}

INSTANTIATE_TEST_SUITE_P(Shapes, RopeTest, ::testing::ValuesIn(kAttentionCases),
                         AttentionParamName);

// ---- Attention ----

class AttentionTest : public CudaTestWithParam<AttentionCase> {
 protected:
  // Runs attention for every span over caches whose rows [0, pos + n) are
  // random and whose later rows all hold `beyond`, on both backends.
  void CompareWithReference(uint16_t beyond) {
    const AttentionCase c = GetParam();
    const AttentionShape shape = ShapeOf(c);
    const uint64_t seed = TestSeed();
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    Random rng(seed);
    const int64_t q_dim = c.n_heads * c.head_dim, kv_dim = c.n_kv_heads * c.head_dim;
    std::vector<uint16_t> k_cache = RandomF16(rng, kMaxContext * kv_dim);
    std::vector<uint16_t> v_cache = RandomF16(rng, kMaxContext * kv_dim);
    ASSIGN_OR_FAIL(auto device_k_cache, DeviceVector<uint16_t>::Allocate(cuda(), k_cache.size()));
    ASSIGN_OR_FAIL(auto device_v_cache, DeviceVector<uint16_t>::Allocate(cuda(), v_cache.size()));
    for (const Span& span : kSpans) {
      const int64_t n = span.n, pos = span.pos;
      SCOPED_TRACE(::testing::Message() << c.name << " n " << n << " pos " << pos);
      std::vector<uint16_t> k = k_cache, v = v_cache;
      std::fill(k.begin() + (pos + n) * kv_dim, k.end(), beyond);
      std::fill(v.begin() + (pos + n) * kv_dim, v.end(), beyond);
      ASSERT_STATUS_OK(device_k_cache.Write(k));
      ASSERT_STATUS_OK(device_v_cache.Write(v));
      // Queries of spread 2: softmax weights from flat to peaked.
      const std::vector<float> q = rng.Normals(n * q_dim, 2.0f);
      ASSIGN_OR_FAIL(auto device_q, DeviceVector<float>::Upload(cuda(), q));
      ASSIGN_OR_FAIL(auto out, DeviceVector<float>::Allocate(cuda(), n * q_dim));
      cuda().Attention(device_q.data(), device_k_cache.data(), device_v_cache.data(), n, pos, shape,
                       out.data());
      ASSIGN_OR_FAIL(const std::vector<float> got, out.Download());
      std::vector<float> want(n * q_dim);
      const std::vector<uint16_t> cpu_k = RelayKvCache(k, cuda(), ScalarCpu(), shape);
      const std::vector<uint16_t> cpu_v = RelayKvCache(v, cuda(), ScalarCpu(), shape);
      ScalarCpu().Attention(q.data(), cpu_k.data(), cpu_v.data(), n, pos, shape, want.data());
      ASSERT_TRUE(AllFinite(got));
      EXPECT_LE(Nmse(want, got), kAttentionLimit);
    }
  }
};

// Rows past the queries hold large values that would show if they were read.
TEST_P(AttentionTest, MatchesTheReference) { CompareWithReference(Fp32ToFp16(3000.0f)); }

// Rows past the queries hold NaN: a kernel may load them (tiles) but must
// not let them reach the output, not even as 0 * NaN. A session's cache
// past its tokens is uninitialized device memory or an older sequence.
TEST_P(AttentionTest, RowsPastTheQueriesCannotReachTheOutput) { CompareWithReference(0x7e00); }

INSTANTIATE_TEST_SUITE_P(Shapes, AttentionTest, ::testing::ValuesIn(kAttentionCases),
                         AttentionParamName);

// ---- SwiGlu, Add ----

class ElementwiseTest : public CudaTest {};

constexpr int64_t kElementCounts[] = {1, 1000, 14336 * 9 + 3};

TEST_F(ElementwiseTest, SwiGluMatchesTheReference) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Random rng(seed);
  for (const int64_t count : kElementCounts) {
    for (const bool in_place : {false, true}) {  // the session writes over gate
      SCOPED_TRACE(::testing::Message() << "count " << count << (in_place ? " in place" : ""));
      const std::vector<float> gate = rng.Normals(count, 4.0f), up = rng.Normals(count);
      ASSIGN_OR_FAIL(auto device_gate, DeviceVector<float>::Upload(cuda(), gate));
      ASSIGN_OR_FAIL(auto device_up, DeviceVector<float>::Upload(cuda(), up));
      ASSIGN_OR_FAIL(auto device_out, DeviceVector<float>::Allocate(cuda(), count));
      DeviceVector<float>& out = in_place ? device_gate : device_out;
      cuda().SwiGlu(device_gate.data(), device_up.data(), count, out.data());
      ASSIGN_OR_FAIL(const std::vector<float> got, out.Download());
      std::vector<float> want(count);
      ScalarCpu().SwiGlu(gate.data(), up.data(), count, want.data());
      ASSERT_TRUE(AllFinite(got));
      EXPECT_LE(Nmse(want, got), kSwiGluLimit);
    }
  }
}

TEST_F(ElementwiseTest, AddIsExact) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Random rng(seed);
  for (const int64_t count : {int64_t{1}, int64_t{4097}, (int64_t{1} << 20) + 5}) {
    SCOPED_TRACE(::testing::Message() << "count " << count);
    std::vector<float> x = rng.Normals(count, 10.0f);
    const std::vector<float> y = rng.Normals(count);
    ASSIGN_OR_FAIL(auto device_x, DeviceVector<float>::Upload(cuda(), x));
    ASSIGN_OR_FAIL(auto device_y, DeviceVector<float>::Upload(cuda(), y));
    cuda().Add(device_x.data(), device_y.data(), count);
    ASSIGN_OR_FAIL(const std::vector<float> got, device_x.Download());
    ScalarCpu().Add(x.data(), y.data(), count);
    EXPECT_EQ(got, x);
  }
}

// ---- Argmax ----

class ArgmaxTest : public CudaTest {};

TEST_F(ArgmaxTest, MatchesTheReferenceAndTheFirstOfTiesWins) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  Random rng(seed);
  constexpr float kInf = std::numeric_limits<float>::infinity();
  for (const int64_t cols : {1, 7, 33, 1000, 2048, 32768, 100003}) {
    SCOPED_TRACE(::testing::Message() << "cols " << cols);
    // Rows: random; random with the maximum at two places; all equal; all
    // negative with -inf; a tie between the last column and one before
    // it; a tie across neighbours at a warp's edge (31, 32); the maximum
    // at the last column alone.
    std::vector<std::vector<float>> rows;
    std::vector<int32_t> expected;  // -1: whatever the reference says
    rows.push_back(rng.Normals(cols));
    expected.push_back(-1);
    const auto add_tie = [&](int64_t a, int64_t b) {
      if (a >= cols || b >= cols || a == b) return;
      std::vector<float> row = rng.Normals(cols);
      row[a] = row[b] = 100.0f;
      rows.push_back(row);
      expected.push_back(static_cast<int32_t>(std::min(a, b)));
    };
    add_tie(rng.Below(cols), rng.Below(cols));
    add_tie(5, cols - 1);
    add_tie(31, 32);
    add_tie(cols / 2 + 1, cols / 2);
    rows.push_back(std::vector<float>(cols, 0.25f));
    expected.push_back(0);
    std::vector<float> negative = rng.Normals(cols);
    for (float& v : negative) v = -std::fabs(v) - 1.0f;
    negative[0] = -kInf;
    rows.push_back(negative);
    expected.push_back(-1);
    std::vector<float> last = rng.Normals(cols);
    last[cols - 1] = 100.0f;
    rows.push_back(last);
    expected.push_back(static_cast<int32_t>(cols - 1));

    const int64_t n = static_cast<int64_t>(rows.size());
    std::vector<float> x;
    for (const auto& row : rows) x.insert(x.end(), row.begin(), row.end());
    ASSIGN_OR_FAIL(auto device_x, DeviceVector<float>::Upload(cuda(), x));
    ASSIGN_OR_FAIL(auto out, DeviceVector<int32_t>::Allocate(cuda(), n));
    cuda().Argmax(device_x.data(), n, cols, out.data());
    ASSIGN_OR_FAIL(const std::vector<int32_t> got, out.Download());
    std::vector<int32_t> want(n);
    ScalarCpu().Argmax(x.data(), n, cols, want.data());
    EXPECT_EQ(got, want);
    for (int64_t i = 0; i < n; ++i) {
      if (expected[i] >= 0) {
        EXPECT_EQ(got[i], expected[i]) << "row " << i;
      }
    }
  }
}

}  // namespace
}  // namespace aiscore
