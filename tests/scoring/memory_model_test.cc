// Tests of scoring/memory_model.h: weight, KV cache and activation sizes
// against hand-computed values for a grouped-query model (Llama 3.1 8B) and a
// multi-head one (Llama 2 7B); fit and no-fit at the boundary; bad inputs.
#include "scoring/memory_model.h"

#include <cstdint>

#include "agent/engine/session.h"
#include "agent/quant/format.h"
#include "gtest/gtest.h"
#include "scoring/model_presets.h"
#include "scoring/reference_values.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;

const v1::ModelShape& Shape(const char* name) {
  const ModelPresetEntry* e = FindModelPreset(name);
  EXPECT_NE(e, nullptr) << name;
  return e->shape;
}

MemoryEstimate Estimate(const v1::ModelShape& shape, const char* format, int64_t context,
                        const MemoryCalibration& calibration = {}) {
  absl::StatusOr<MemoryEstimate> e = EstimateMemory(shape, format, context, calibration);
  EXPECT_TRUE(e.ok()) << e.status();
  return e.ok() ? *e : MemoryEstimate{};
}

// Llama 3.1 8B: 32 layers, 8 K/V heads of 128: K and V, F16, 8192 tokens.
TEST(MemoryModelTest, KvCacheOfGroupedQueryModelIsHandComputed) {
  const int64_t expected = 2 * 32 * 8 * 128 * int64_t{8192} * 2;
  EXPECT_EQ(expected, kGiB);
  EXPECT_EQ(Estimate(Shape("llama-3.1-8b"), "q4_k", 8192).kv_cache_bytes, kGiB);
}

// Llama 2 7B: 32 layers, 32 K/V heads of 128 (multi-head): 4x the above.
TEST(MemoryModelTest, KvCacheOfMultiHeadModelIsHandComputed) {
  const int64_t expected = 2 * 32 * 32 * 128 * int64_t{8192} * 2;
  EXPECT_EQ(expected, 4 * kGiB);
  EXPECT_EQ(Estimate(Shape("llama-2-7b"), "q4_k", 8192).kv_cache_bytes, 4 * kGiB);
}

// A calculator that ignores grouped-query attention sizes K/V by n_heads:
// 4x too much for Llama 3.1 8B and 8x for Llama 3.1 70B.
TEST(MemoryModelTest, KvCacheIsGroupedQueryAware) {
  const v1::ModelShape& s70 = Shape("llama-3.1-70b");
  const int64_t naive = 2 * s70.n_layers() * s70.d_model() * int64_t{32768} * 2;
  const int64_t kv = Estimate(s70, "q4_k", 32768).kv_cache_bytes;
  EXPECT_EQ(kv * 8, naive);
  EXPECT_EQ(kv, 10 * kGiB);  // 2 x 80 x 8 x 128 x 32768 x 2
}

TEST(MemoryModelTest, KvCacheIsLinearInContext) {
  const v1::ModelShape& s = Shape("qwen2.5-7b");  // 28 layers, 4 K/V heads of 128
  EXPECT_EQ(Estimate(s, "f16", 1).kv_cache_bytes, 2 * 28 * 4 * 128 * 2);
  EXPECT_EQ(Estimate(s, "f16", 1000).kv_cache_bytes, 1000 * 2 * 28 * 4 * 128 * 2);
}

// Llama 3.1 8B's weights in F16, hand-computed from its config: every weight
// at 2 bytes except the 65 norms (2 per layer and the final one) at 4.
// Exact: no rounding is involved.
TEST(MemoryModelTest, F16WeightsOfLlama31_8bAreExact) {
  const int64_t d = 4096, kv = 1024, ff = 14336, vocab = 128256, layers = 32;
  const int64_t matrices = layers * (2 * d * d + 2 * d * kv + 3 * d * ff);  // 6,979,321,856
  const int64_t embedding_and_head = 2 * vocab * d;                         // 1,050,673,152
  const int64_t norms = (2 * layers + 1) * d;                               // 266,240
  const int64_t expected = (matrices + embedding_and_head) * 2 + norms * 4;
  EXPECT_EQ(expected, 16'061'054'976);
  EXPECT_EQ(*ModelWeightBytes(Shape("llama-3.1-8b"), "f16"), expected);
  EXPECT_EQ(Estimate(Shape("llama-3.1-8b"), "f16", 4096).weights_bytes, expected);
}

// The same model in Q4_K: blocks of 256 weights in 144 bytes. Every row of
// Llama 3.1 8B (4096, 14336 = 56 x 256) is a whole number of blocks, so the
// block layout and the average 4.5 bits per weight agree to the byte: the
// tolerance is 0. (Rows that are not whole blocks, as in Qwen 2.5 72B's
// down projection of 29568 columns, are priced at the average; a real file
// stores those tensors in another format.)
TEST(MemoryModelTest, Q4KWeightsOfLlama31_8bAreTheBlockLayout) {
  const int64_t d = 4096, kv = 1024, ff = 14336, vocab = 128256, layers = 32;
  const int64_t in_format = layers * (2 * d * d + 2 * d * kv + 3 * d * ff) + 2 * vocab * d;
  ASSERT_EQ(in_format % 256, 0);
  const int64_t expected = in_format / 256 * 144 + (2 * layers + 1) * d * 4;
  EXPECT_EQ(expected, 4'517'937'152);
  EXPECT_EQ(*ModelWeightBytes(Shape("llama-3.1-8b"), "q4_k"), expected);
}

TEST(MemoryModelTest, OtherFormatsFollowTheirBlocks) {
  const v1::ModelShape& s = Shape("llama-3.1-8b");
  const int64_t in_format = 8'030'261'248 - 65 * 4096;
  const int64_t norms = 65 * 4096 * 4;
  EXPECT_EQ(*ModelWeightBytes(s, "q8_0"), in_format / 32 * 34 + norms);
  EXPECT_EQ(*ModelWeightBytes(s, "q2_k"), in_format / 256 * 84 + norms);
  EXPECT_EQ(*ModelWeightBytes(s, "Q4_K"), *ModelWeightBytes(s, "q4_k"));
}

// The whole model holds vocab_size embedding rows; a decoded token reads one.
TEST(MemoryModelTest, WeightsExceedBytesReadPerTokenByTheEmbeddingTable) {
  for (const ModelPresetEntry& e : ModelPresets()) {
    for (const char* format : {"f16", "q8_0", "q4_k", "q2_k"}) {
      const double per_token = *WeightBytesPerToken(e.shape, format);
      const int64_t whole = *ModelWeightBytes(e.shape, format);
      const double rows = static_cast<double>(e.shape.vocab_size() - 1) * e.shape.d_model();
      const double bytes_per_weight = BitsPerWeight(*FormatFromName(format)) / 8;
      // Whole bytes: the model rounds the sum up.
      EXPECT_NEAR(static_cast<double>(whole) - per_token, rows * bytes_per_weight, 1.0)
          << e.name << " " << format;
    }
  }
}

// Activations: the engine's scratch for a micro-batch of 512 tokens, hand
// computed for Llama 3.1 8B: per token, in F32, 3 x 4096 (residual, normed
// input, projection) + 2 x 4096 (query, attention output) + 2 x 1024 (K, V)
// + 2 x 14336 (gate, up) + 128256 (logits) = 179456 floats; plus 513 token
// ids.
TEST(MemoryModelTest, ActivationsAreTheEnginesMicroBatchScratch) {
  const int64_t floats = 3 * 4096 + 2 * 4096 + 2 * 1024 + 2 * 14336 + 128256;
  EXPECT_EQ(floats, 179456);
  const int64_t expected = 512 * floats * 4 + 4 * (512 + 1);
  EXPECT_EQ(expected, 367'527'940);
  const v1::ModelShape& s = Shape("llama-3.1-8b");
  EXPECT_EQ(Estimate(s, "q4_k", 8192).activations_bytes, expected);
  EXPECT_EQ(Estimate(s, "q4_k", 131072).activations_bytes, expected);  // no score matrix
  // A context shorter than a micro-batch is one micro-batch of that length.
  EXPECT_EQ(Estimate(s, "q4_k", 100).activations_bytes, 100 * floats * 4 + 4 * 101);
  // And it is what a Session allocates besides its cache.
  SessionOptions options;
  options.max_context = 8192;
  options.max_batch = kMicroBatch;
  EXPECT_EQ(SessionOverheadBytes(ToModelConfig(s), options) - 8192 * int64_t{131072}, expected);
}

TEST(MemoryModelTest, TotalIsTheSumWithTheCalibratedOverhead) {
  const v1::ModelShape& s = Shape("mistral-7b");
  const MemoryEstimate d = Estimate(s, "q8_0", 4096);
  EXPECT_EQ(d.overhead_bytes, 512 * (int64_t{1} << 20));
  EXPECT_EQ(d.total_bytes,
            d.weights_bytes + d.kv_cache_bytes + d.activations_bytes + d.overhead_bytes);
  MemoryCalibration calibration;
  calibration.overhead_bytes = 300'000'000;
  calibration.basis = "median of 9 results";
  const MemoryEstimate c = Estimate(s, "q8_0", 4096, calibration);
  EXPECT_EQ(c.overhead_bytes, 300'000'000);
  EXPECT_EQ(c.total_bytes, d.total_bytes - d.overhead_bytes + 300'000'000);
  calibration.overhead_bytes = 0;
  EXPECT_EQ(Estimate(s, "q8_0", 4096, calibration).total_bytes,
            d.weights_bytes + d.kv_cache_bytes + d.activations_bytes);
}

TEST(MemoryModelTest, FitsExactlyAtTheBoundary) {
  const MemoryEstimate e = Estimate(Shape("llama-3.1-8b"), "q4_k", 8192);
  EXPECT_TRUE(Fits(e, e.total_bytes));
  EXPECT_FALSE(Fits(e, e.total_bytes - 1));
  EXPECT_TRUE(Fits(e, e.total_bytes + 1));
  EXPECT_FALSE(Fits(e, 0));
  EXPECT_FALSE(Fits(e, -1));
}

// Real cases either side of a 24 GiB card: Llama 3.1 8B in F16 at 8K fits;
// Llama 3.1 70B in Q4_K does not, nor Qwen 2.5 32B in Q8_0.
TEST(MemoryModelTest, FitsAOneGpuCase) {
  constexpr int64_t k24GiB = 24 * kGiB;
  EXPECT_TRUE(Fits(Estimate(Shape("llama-3.1-8b"), "f16", 8192), k24GiB));
  EXPECT_FALSE(Fits(Estimate(Shape("llama-3.1-70b"), "q4_k", 8192), k24GiB));
  EXPECT_FALSE(Fits(Estimate(Shape("qwen2.5-32b"), "q8_0", 8192), k24GiB));
  EXPECT_TRUE(Fits(Estimate(Shape("qwen2.5-32b"), "q4_k", 8192), k24GiB));
}

TEST(MemoryModelTest, RejectsBadShapes) {
  const v1::ModelShape good = Shape("llama-3.1-8b");
  auto bad = [&](auto mutate) {
    v1::ModelShape s = good;
    mutate(s);
    absl::StatusOr<MemoryEstimate> e = EstimateMemory(s, "q4_k", 4096);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument) << s.ShortDebugString();
    EXPECT_EQ(ModelWeightBytes(s, "q4_k").status().code(), absl::StatusCode::kInvalidArgument);
  };
  bad([](v1::ModelShape& s) { s.set_vocab_size(0); });
  bad([](v1::ModelShape& s) { s.set_d_model(-4096); });
  bad([](v1::ModelShape& s) { s.set_n_layers(0); });
  bad([](v1::ModelShape& s) { s.set_n_heads(0); });
  bad([](v1::ModelShape& s) { s.set_n_kv_heads(0); });
  bad([](v1::ModelShape& s) { s.set_d_ff(0); });
  bad([](v1::ModelShape& s) { s.set_n_kv_heads(5); });  // 32 heads are not a multiple of 5
  bad([](v1::ModelShape& s) { s.set_n_heads(24); });    // 4096 is not divisible by 24
  bad([](v1::ModelShape& s) { s.set_d_model(int64_t{1} << 40); });
  bad([](v1::ModelShape& s) { s.set_n_layers(1 << 20); });
}

// Only the fields sizes depend on are checked: an explicit shape may leave
// out rope_theta, norm_eps and max_context, and a context may exceed
// max_context.
TEST(MemoryModelTest, AcceptsAShapeWithOnlyItsSizes) {
  v1::ModelShape s;
  s.set_vocab_size(128256);
  s.set_d_model(4096);
  s.set_n_layers(32);
  s.set_n_heads(32);
  s.set_n_kv_heads(8);
  s.set_d_ff(14336);
  const MemoryEstimate e = Estimate(s, "q4_k", 8192);
  EXPECT_EQ(e.kv_cache_bytes, kGiB);
  EXPECT_EQ(e.total_bytes, Estimate(Shape("llama-3.1-8b"), "q4_k", 8192).total_bytes);
  EXPECT_TRUE(EstimateMemory(Shape("llama-2-7b"), "f16", 16384).ok());  // max_context 4096
}

TEST(MemoryModelTest, RejectsUnknownFormats) {
  const v1::ModelShape& s = Shape("llama-3.1-8b");
  for (const char* format : {"", "q4_k_m", "int4", "fp8"}) {
    EXPECT_EQ(EstimateMemory(s, format, 4096).status().code(), absl::StatusCode::kInvalidArgument)
        << format;
    EXPECT_EQ(ModelWeightBytes(s, format).status().code(), absl::StatusCode::kInvalidArgument)
        << format;
  }
}

TEST(MemoryModelTest, RejectsContextsOutOfRange) {
  const v1::ModelShape& s = Shape("llama-3.1-8b");
  for (int64_t context : {int64_t{0}, int64_t{-1}, kMaxContextTokens + 1}) {
    EXPECT_EQ(EstimateMemory(s, "q4_k", context).status().code(),
              absl::StatusCode::kInvalidArgument)
        << context;
  }
  absl::StatusOr<MemoryEstimate> longest = EstimateMemory(s, "q4_k", kMaxContextTokens);
  ASSERT_TRUE(longest.ok()) << longest.status();
  EXPECT_EQ(longest->kv_cache_bytes, kMaxContextTokens * 131072);
}

TEST(MemoryModelTest, RejectsANegativeOverhead) {
  MemoryCalibration calibration;
  calibration.overhead_bytes = -1;
  EXPECT_EQ(EstimateMemory(Shape("llama-3.1-8b"), "q4_k", 4096, calibration).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace aiscore
