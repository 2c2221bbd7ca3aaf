// Tests of scoring/model_presets.h: every preset is a valid shape of the size
// its model card states, and is found by name in any case.
#include "scoring/model_presets.h"

#include <cmath>
#include <cstdint>
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"
#include "scoring/memory_model.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

// Parameters of a Llama-architecture shape, computed here from the fields
// (the engine's ModelConfig::ParameterCount is not what is under test):
// per layer q, o (d x d), k, v (d x kv_dim), gate, up, down (d x d_ff) and two
// norms; the embedding table and the output head; the final norm.
int64_t ShapeParameters(const v1::ModelShape& s) {
  const int64_t d = s.d_model();
  const int64_t kv_dim = s.n_kv_heads() * (d / s.n_heads());
  const int64_t per_layer = 2 * d * d + 2 * d * kv_dim + 3 * d * s.d_ff() + 2 * d;
  return s.n_layers() * per_layer + 2 * s.vocab_size() * d + d;
}

// The parameters the model has: a tied model stores one table for the
// embeddings and the head.
int64_t ModelParameters(const ModelPresetEntry& e) {
  const int64_t tied = e.tied_embeddings ? e.shape.vocab_size() * e.shape.d_model() : 0;
  return ShapeParameters(e.shape) - tied;
}

TEST(ModelPresetsTest, HasAtLeastTwelveUniqueLowerCaseNames) {
  EXPECT_GE(ModelPresets().size(), 12u);
  std::set<std::string> names;
  for (const ModelPresetEntry& e : ModelPresets()) {
    EXPECT_EQ(e.name, absl::AsciiStrToLower(e.name));
    EXPECT_EQ(e.shape.name(), e.name);
    EXPECT_FALSE(e.source.empty()) << e.name;
    EXPECT_TRUE(names.insert(e.name).second) << "duplicate " << e.name;
  }
}

TEST(ModelPresetsTest, HasTheNamedModels) {
  for (const char* name : {"llama-2-7b", "llama-2-13b", "llama-3.1-8b", "llama-3.1-70b",
                           "llama-3.2-1b", "llama-3.2-3b", "mistral-7b", "qwen2.5-7b",
                           "qwen2.5-14b", "qwen2.5-32b", "qwen2.5-72b", "target-7b", "draft-1b"}) {
    EXPECT_NE(FindModelPreset(name), nullptr) << name;
  }
}

TEST(ModelPresetsTest, EveryPresetIsAValidShape) {
  for (const ModelPresetEntry& e : ModelPresets()) {
    // The engine's own validation, max_context and all.
    EXPECT_TRUE(ToModelConfig(e.shape).Validate().ok())
        << e.name << ": " << ToModelConfig(e.shape).Validate();
    EXPECT_GT(e.shape.max_context(), 0) << e.name;
    EXPECT_TRUE(EstimateMemory(e.shape, "q4_k", e.shape.max_context()).ok()) << e.name;
  }
}

TEST(ModelPresetsTest, IsFoundCaseInsensitively) {
  for (const ModelPresetEntry& e : ModelPresets()) {
    EXPECT_EQ(FindModelPreset(e.name), &e);
    EXPECT_EQ(FindModelPreset(absl::AsciiStrToUpper(e.name)), &e);
  }
  const ModelPresetEntry* p = FindModelPreset("Llama-3.1-8B");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->name, "llama-3.1-8b");
  EXPECT_EQ(FindModelPreset("llama-3.1-8"), nullptr);
  EXPECT_EQ(FindModelPreset(""), nullptr);
  EXPECT_EQ(FindModelPreset("gpt-4"), nullptr);
}

// Every preset's parameter count, computed from its shape, is within 2% of
// the count its model card states (untied: the shape; tied: the shape less
// the head it shares with the embedding table).
TEST(ModelPresetsTest, ParameterCountsMatchPublishedSizes) {
  for (const ModelPresetEntry& e : ModelPresets()) {
    ASSERT_GT(e.published_parameters, 0) << e.name;
    const double ratio =
        static_cast<double>(ModelParameters(e)) / static_cast<double>(e.published_parameters);
    EXPECT_NEAR(ratio, 1.0, 0.02) << e.name << ": " << ModelParameters(e) << " vs "
                                  << e.published_parameters;
  }
}

// The same against the rounded sizes on the model cards, written here rather
// than taken from the table.
TEST(ModelPresetsTest, ParameterCountsMatchModelCards) {
  struct Card {
    const char* name;
    double billions;
  };
  for (const Card& c :
       {Card{"llama-2-7b", 6.74}, Card{"llama-2-13b", 13.0}, Card{"llama-3.1-8b", 8.03},
        Card{"llama-3.1-70b", 70.6}, Card{"llama-3.2-1b", 1.24}, Card{"llama-3.2-3b", 3.21},
        Card{"mistral-7b", 7.25}, Card{"qwen2.5-7b", 7.62}, Card{"qwen2.5-14b", 14.8},
        Card{"qwen2.5-32b", 32.8}, Card{"qwen2.5-72b", 72.7}}) {
    const ModelPresetEntry* e = FindModelPreset(c.name);
    ASSERT_NE(e, nullptr) << c.name;
    EXPECT_NEAR(static_cast<double>(ModelParameters(*e)) / (c.billions * 1e9), 1.0, 0.02) << c.name;
  }
}

TEST(ModelPresetsTest, AttentionIsGroupedWhereTheModelsAreAndMultiHeadWhereNot) {
  EXPECT_EQ(FindModelPreset("llama-2-7b")->shape.n_kv_heads(), 32);
  EXPECT_EQ(FindModelPreset("llama-2-13b")->shape.n_kv_heads(), 40);
  EXPECT_EQ(FindModelPreset("llama-3.1-8b")->shape.n_kv_heads(), 8);
  EXPECT_EQ(FindModelPreset("llama-3.1-70b")->shape.n_kv_heads(), 8);
  EXPECT_EQ(FindModelPreset("qwen2.5-7b")->shape.n_kv_heads(), 4);
  // head_dim 128 for the Llama 3 and Qwen 2.5 families, as in config.json.
  for (const char* name : {"llama-3.1-8b", "llama-3.1-70b", "llama-3.2-1b", "llama-3.2-3b",
                           "mistral-7b", "qwen2.5-7b", "qwen2.5-14b", "qwen2.5-72b"}) {
    const v1::ModelShape& s = FindModelPreset(name)->shape;
    EXPECT_EQ(s.d_model() / s.n_heads(), name == std::string("llama-3.2-1b") ? 64 : 128) << name;
  }
}

TEST(ModelPresetsTest, TiedModelsSaySo) {
  for (const ModelPresetEntry& e : ModelPresets()) {
    if (e.tied_embeddings) {
      EXPECT_NE(e.source.find("tie"), std::string::npos) << e.name;
    }
  }
  EXPECT_TRUE(FindModelPreset("llama-3.2-1b")->tied_embeddings);
  EXPECT_TRUE(FindModelPreset("llama-3.2-3b")->tied_embeddings);
  EXPECT_FALSE(FindModelPreset("llama-3.1-8b")->tied_embeddings);
}

// The suite's own shapes are the suite's, field for field.
TEST(ModelPresetsTest, SuiteShapesAreTheSuitesOwn) {
  absl::StatusOr<LoadedSuite> suite = LoadSuite("v1");
  ASSERT_TRUE(suite.ok()) << suite.status();
  for (const v1::ModelShape& m : suite->spec.models()) {
    const ModelPresetEntry* e = FindModelPreset(m.name());
    ASSERT_NE(e, nullptr) << m.name();
    EXPECT_EQ(e->shape.SerializeAsString(), m.SerializeAsString()) << m.name();
  }
  EXPECT_EQ(FindModelPreset("target-7b")->shape.d_ff(), 14336);
  EXPECT_EQ(FindModelPreset("draft-1b")->shape.d_model(), 2048);
}

}  // namespace
}  // namespace aiscore
