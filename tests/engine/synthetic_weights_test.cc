#include "agent/engine/synthetic_weights.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "agent/cpu/cpu_backend.h"
#include "agent/engine/session.h"

namespace aiscore {
namespace {

uint64_t Hash(const ModelWeights& w) {  // FNV-1a over every tensor's bytes
  uint64_t h = 1469598103934665603ull;
  for (const WeightTensor* t : w.Tensors()) {
    const auto* p = static_cast<const unsigned char*>(t->data);
    for (size_t i = 0; i < t->bytes(); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

class SyntheticTest : public ::testing::TestWithParam<Format> {};

TEST_P(SyntheticTest, SameSeedSameBytesAnyThreadCount) {
  const ModelConfig c = *ModelPreset("small");
  const uint64_t a = Hash(*SynthesizeWeights(c, GetParam(), 42, 1));
  EXPECT_EQ(a, Hash(*SynthesizeWeights(c, GetParam(), 42, 2)));
  EXPECT_EQ(a, Hash(*SynthesizeWeights(c, GetParam(), 42, 5)));
  EXPECT_NE(a, Hash(*SynthesizeWeights(c, GetParam(), 43, 2)));
}

TEST_P(SyntheticTest, ValuesAreFiniteWithTheIntendedSpread) {
  const ModelWeights w = *SynthesizeWeights(*ModelPreset("small"), GetParam(), 7);
  for (const WeightTensor* t : w.Tensors()) {
    std::vector<float> v(t->elements());
    for (int64_t r = 0; r < t->rows; ++r) {
      Traits(t->format).dequantize(static_cast<const unsigned char*>(t->data) + r * t->row_bytes(),
                                   v.data() + r * t->cols, t->cols);
    }
    double sum = 0, sq = 0;
    for (float x : v) {
      ASSERT_TRUE(std::isfinite(x)) << t->name;
      sum += x;
      sq += double(x) * x;
    }
    const double mean = sum / v.size(), sd = std::sqrt(sq / v.size() - mean * mean);
    if (t->rows == 1) {  // norm weights
      EXPECT_EQ(mean, 1.0) << t->name;
      continue;
    }
    const double want = t == &w.token_embd ? 1.0 : 1.0 / std::sqrt(double(t->cols));
    EXPECT_NEAR(sd, want, 0.1 * want) << t->name;
    EXPECT_LT(std::fabs(mean), 0.05 * want) << t->name;
  }
}

INSTANTIATE_TEST_SUITE_P(Formats, SyntheticTest, ::testing::ValuesIn(kAllFormats),
                         [](const auto& info) {
                           return std::string(Traits(info.param).gguf_name);
                         });

TEST(SyntheticTest, KeysAreStable) {
  // Pinned values: a change here changes every synthetic model, so every score.
  EXPECT_EQ(SyntheticBlockKey(kDefaultSyntheticSeed, 0, 0), SyntheticBlockKey(0x61697363u, 0, 0));
  EXPECT_NE(SyntheticBlockKey(1, 0, 0), SyntheticBlockKey(1, 0, 1));
  EXPECT_NE(SyntheticBlockKey(1, 0, 0), SyntheticBlockKey(1, 1, 0));
}

// The basket's model: activations stay finite through all 32 layers in every
// format, and the logits have a sane spread.
class Target7bTest : public ::testing::TestWithParam<Format> {};

TEST_P(Target7bTest, ActivationsStayFiniteThroughEveryLayer) {
  const ModelConfig c = *ModelPreset("target-7b");
  // As the runner makes them: on the backend, which repacks the matrices it
  // reads as panels in place (a host copy handed to PrepareWeights would be
  // copied once more, 27 GB at F16).
  CpuBackend backend(0);
  absl::StatusOr<ModelWeights> w = SynthesizeWeightsFor(backend, c, GetParam());
  if (w.status().code() == absl::StatusCode::kResourceExhausted) {
    GTEST_SKIP() << w.status().message();
  }
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(c.ParameterCount(), 7248023552);
  auto s = *Session::Create(&backend, *w, {.max_context = 8, .max_batch = 8});
  const int32_t tokens[] = {1, 1000, 20000, 32767};
  ASSERT_TRUE(s->Forward(tokens, 0, Logits::kAll).ok());
  for (int i = 0; i < 4; ++i) {
    double sq = 0;
    for (int64_t v = 0; v < c.vocab_size; ++v) {
      const float x = s->logits()[i * c.vocab_size + v];
      ASSERT_TRUE(std::isfinite(x));
      sq += double(x) * x;
    }
    const double rms = std::sqrt(sq / c.vocab_size);
    EXPECT_GT(rms, 0.1);
    EXPECT_LT(rms, 100.0);
  }
}

INSTANTIATE_TEST_SUITE_P(Basket, Target7bTest, ::testing::ValuesIn(kBasketFormats),
                         [](const auto& info) {
                           return std::string(Traits(info.param).gguf_name);
                         });

}  // namespace
}  // namespace aiscore
