// The engine's forward pass on the CPU backend, every format and kernel
// path, against the FP64 reference model; prefill against step-by-step
// decode; micro-batching and cache rollback.
#include "agent/engine/session.h"

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <string>

#include "agent/cpu/cpu_backend.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/engine/gguf_model.h"
#include "agent/engine/synthetic_weights.h"
#include "tests/engine/fp64_reference_model.h"
#include "tests/nmse.h"
#include "tests/temp_dir.h"

namespace aiscore {
namespace {

std::vector<int32_t> RandomTokens(int n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % vocab);
  return t;
}

struct Case {
  Format format;
  Isa isa;
};

class ForwardTest : public ::testing::TestWithParam<Case> {};

TEST_P(ForwardTest, LogitsMatchFp64Reference) {
  const Case c = GetParam();
  if (!IsaSupported(c.isa)) GTEST_SKIP() << "this CPU lacks " << IsaName(c.isa);
  const uint64_t seed = std::random_device{}();
  const ModelConfig config = *ModelPreset("tiny");
  const ModelWeights w = *SynthesizeWeights(config, c.format, seed);
  CpuBackend backend(2, c.isa);
  std::unique_ptr<Session> s = *Session::Create(&backend, w, {.max_context = 64, .max_batch = 64});
  const std::vector<int32_t> tokens = RandomTokens(9, config.vocab_size, seed);
  ASSERT_TRUE(s->Forward(tokens, 0, Logits::kAll).ok());
  for (float v : s->logits()) ASSERT_TRUE(std::isfinite(v));
  EXPECT_LE(Nmse(Fp64Forward(w, tokens), s->logits()), Fp64ForwardLimit(c.format))
      << "seed " << seed;
}

std::vector<Case> Cases() {
  std::vector<Case> out;
  for (Format f : kAllFormats)
    for (Isa isa : kAllIsas) out.push_back({f, isa});
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, ForwardTest, ::testing::ValuesIn(Cases()), [](const auto& info) {
  return std::string(Traits(info.param.format).gguf_name) + "_" +
         std::string(IsaName(info.param.isa));
});

class SessionTest : public ::testing::TestWithParam<Format> {
 protected:
  void SetUp() override {
    config_ = *ModelPreset("tiny");
    weights_ = *SynthesizeWeights(config_, GetParam(), 99);
  }
  std::unique_ptr<Session> NewSession(int64_t max_batch = 64) {
    return *Session::Create(&backend_, weights_, {.max_context = 128, .max_batch = max_batch});
  }
  ModelConfig config_;
  ModelWeights weights_;
  CpuBackend backend_{2};
};

TEST_P(SessionTest, PrefillAgreesWithStepByStepDecode) {
  const std::vector<int32_t> tokens = RandomTokens(12, config_.vocab_size, 5);
  auto prefill = NewSession();
  ASSERT_TRUE(prefill->Forward(tokens, 0, Logits::kAll).ok());
  auto step = NewSession();
  std::vector<float> stepwise;
  for (size_t i = 0; i < tokens.size(); ++i) {
    ASSERT_TRUE(step->Forward(std::span<const int32_t>(&tokens[i], 1), i, Logits::kLast).ok());
    stepwise.insert(stepwise.end(), step->logits().begin(), step->logits().end());
  }
  EXPECT_EQ(step->cached_tokens(), 12);
  EXPECT_LE(Nmse(prefill->logits(), stepwise), 1e-9);
}

// 20 tokens at once run the flash-style attention, micro-batches of 3 the
// token-by-token one (CpuBackend::kTokenwiseAttentionTokens): the same
// values up to summation order, so within 1e-9 where activations stay f32
// (F16 weights). Where the kernels quantize activations to int8 (Q8_0, the
// K-quants), a last-bit difference can flip one rounding, which moves the
// logits by an NMSE of about 1e-6 (2.5e-6 measured for Q8_0).
TEST_P(SessionTest, MicroBatchesGiveTheSameLogits) {
  const double limit = GetParam() == Format::kF16 ? 1e-9 : 1e-5;
  const std::vector<int32_t> tokens = RandomTokens(20, config_.vocab_size, 6);
  auto whole = NewSession(64);
  auto split = NewSession(3);
  ASSERT_TRUE(whole->Forward(tokens, 0, Logits::kAll).ok());
  ASSERT_TRUE(split->Forward(tokens, 0, Logits::kAll).ok());
  EXPECT_LE(Nmse(whole->logits(), split->logits()), limit);
  ASSERT_TRUE(split->Forward(tokens, 0, Logits::kLast).ok());
  const std::vector<float> last(whole->logits().end() - config_.vocab_size, whole->logits().end());
  EXPECT_LE(Nmse(last, split->logits()), limit);
}

TEST_P(SessionTest, RewritingFromAnEarlierPositionForgetsLaterTokens) {
  const std::vector<int32_t> a = RandomTokens(8, config_.vocab_size, 7);
  std::vector<int32_t> b = a;
  b[5] = (b[5] + 1) % config_.vocab_size, b[6] = (b[6] + 3) % config_.vocab_size;
  auto fresh = NewSession();
  ASSERT_TRUE(fresh->Forward(b, 0, Logits::kAll).ok());
  auto rolled = NewSession();
  ASSERT_TRUE(rolled->Forward(a, 0, Logits::kAll).ok());
  rolled->Truncate(5);
  EXPECT_EQ(rolled->cached_tokens(), 5);
  ASSERT_TRUE(rolled->Forward(std::span<const int32_t>(b).subspan(5), 5, Logits::kAll).ok());
  const std::vector<float> tail(fresh->logits().begin() + 5 * config_.vocab_size,
                                fresh->logits().end());
  EXPECT_LE(Nmse(tail, rolled->logits()), 1e-9);
}

TEST_P(SessionTest, GenerateIsGreedyOverLogits) {
  const std::vector<int32_t> prompt = RandomTokens(4, config_.vocab_size, 8);
  auto s = NewSession();
  const std::vector<int32_t> out = *s->Generate(prompt, 5);
  ASSERT_EQ(out.size(), 5u);
  std::vector<int32_t> seq = prompt;
  auto check = NewSession();
  for (int32_t t : out) {
    ASSERT_TRUE(check->Forward(seq, 0, Logits::kLast).ok());
    const auto& l = check->logits();
    EXPECT_EQ(t, std::max_element(l.begin(), l.end()) - l.begin());
    seq.push_back(t);
  }
}

TEST_P(SessionTest, BadRequestsAreErrorsNotCrashes) {
  auto s = NewSession();
  EXPECT_EQ(s->Forward({}, 0, Logits::kLast).code(), absl::StatusCode::kInvalidArgument);
  const int32_t bad[] = {static_cast<int32_t>(config_.vocab_size)};
  EXPECT_EQ(s->Forward(bad, 0, Logits::kLast).code(), absl::StatusCode::kInvalidArgument);
  const int32_t neg[] = {-1};
  EXPECT_EQ(s->Forward(neg, 0, Logits::kLast).code(), absl::StatusCode::kInvalidArgument);
  const int32_t ok[] = {1};
  EXPECT_EQ(s->Forward(ok, 3, Logits::kLast).code(), absl::StatusCode::kInvalidArgument);
  std::vector<int32_t> too_long(129, 1);
  EXPECT_EQ(s->Forward(too_long, 0, Logits::kLast).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(s->cached_tokens(), 0);
}

INSTANTIATE_TEST_SUITE_P(Formats, SessionTest, ::testing::ValuesIn(kBasketFormats),
                         [](const auto& info) {
                           return std::string(Traits(info.param).gguf_name);
                         });

// The CPU backend keeps Q2_K matrices in its panel layout where its kernel
// reads panels: repacked in place when it synthesizes them, into a copy when
// it takes host weights (the host's bytes untouched). Either way the logits
// are those of the same kernels on the same weights, bit for bit, and
// backends of every ISA agree with the reference.
TEST(CpuWeightsTest, Q2_KPanelsGiveTheSameLogitsAsHostWeights) {
  const ModelConfig config = *ModelPreset("tiny");
  const uint64_t seed = std::random_device{}();
  const ModelWeights host = *SynthesizeWeights(config, Format::kQ2_K, seed);
  const ModelWeights pristine = *SynthesizeWeights(config, Format::kQ2_K, seed);
  const std::vector<int32_t> tokens = RandomTokens(9, config.vocab_size, seed);
  for (Isa isa : kAllIsas) {
    if (!IsaSupported(isa)) continue;
    CpuBackend backend(2, isa);
    const ModelWeights made = *backend.SynthesizeOnDevice(config, Format::kQ2_K, seed);
    const ModelWeights prepared = *backend.PrepareWeights(host);
    const MatMulKernel& k = BestMatMulKernel(Format::kQ2_K, isa);
    const WeightLayout matrices = k.panel_tile != nullptr ? k.panel_layout : WeightLayout::kRows;
    for (const ModelWeights* w : {&made, &prepared}) {
      EXPECT_EQ(w->token_embd.layout, WeightLayout::kRows);  // read by rows (Embed)
      EXPECT_EQ(w->output.layout, matrices) << IsaName(isa);
      EXPECT_EQ(w->layers[0].w_down.layout, matrices) << IsaName(isa);
      EXPECT_EQ(w->layers[1].wq.layout, matrices) << IsaName(isa);
      EXPECT_EQ(w->layers[1].attn_norm.layout, WeightLayout::kRows);
    }
    std::vector<std::vector<float>> logits;
    for (const ModelWeights* w : {&host, &made, &prepared}) {
      std::unique_ptr<Session> s = *Session::Create(&backend, *w, {.max_context = 64});
      ASSERT_TRUE(s->Forward(tokens, 0, Logits::kAll).ok());
      logits.push_back(s->logits());
    }
    EXPECT_EQ(logits[1], logits[0]) << IsaName(isa) << " seed " << seed;
    EXPECT_EQ(logits[2], logits[0]) << IsaName(isa) << " seed " << seed;
    EXPECT_LE(Nmse(Fp64Forward(host, tokens), logits[1]), Fp64ForwardLimit(Format::kQ2_K))
        << IsaName(isa) << " seed " << seed;
    const std::vector<const WeightTensor*> a = host.Tensors(), b = pristine.Tensors();
    for (size_t i = 0; i < a.size(); ++i) {
      ASSERT_EQ(std::memcmp(a[i]->data, b[i]->data, a[i]->bytes()), 0) << a[i]->name;
    }
  }
}

// A Q2_K GGUF (a read-only file mapping) through PrepareWeights: repacked
// into a copy, the file's pages it read dropped from memory; the logits are
// those of the synthesized weights, and the mapped weights still read back
// byte for byte (from the file) afterwards.
TEST(CpuWeightsTest, Q2_KFromAGgufFileIsRepackedIntoACopy) {
  const ModelConfig config = *ModelPreset("tiny");
  const ModelWeights synthesized = *SynthesizeWeights(config, Format::kQ2_K, 11);
  TempDir dir;
  const std::string path = (dir.path() / "tiny-q2_k.gguf").string();
  ASSERT_TRUE(WriteGgufModel(synthesized, path).ok());
  const ModelWeights mapped = *LoadGgufModel(path);
  EXPECT_TRUE(mapped.file_mapped);
  EXPECT_FALSE(synthesized.file_mapped);
  CpuBackend backend(2);
  const ModelWeights prepared = *backend.PrepareWeights(mapped);
  const MatMulKernel& k = BestMatMulKernel(Format::kQ2_K, backend.isa());
  EXPECT_EQ(prepared.layers[0].w_up.layout,
            k.panel_tile != nullptr ? k.panel_layout : WeightLayout::kRows);
  const std::vector<int32_t> tokens = RandomTokens(7, config.vocab_size, 3);
  std::vector<std::vector<float>> logits;
  for (const ModelWeights* w : {&synthesized, &prepared}) {
    std::unique_ptr<Session> s = *Session::Create(&backend, *w, {.max_context = 32});
    ASSERT_TRUE(s->Forward(tokens, 0, Logits::kAll).ok());
    logits.push_back(s->logits());
  }
  EXPECT_EQ(logits[1], logits[0]);
  const std::vector<const WeightTensor*> a = mapped.Tensors(), b = synthesized.Tensors();
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(std::memcmp(a[i]->data, b[i]->data, a[i]->bytes()), 0) << a[i]->name;
  }
}

TEST(SessionCreateTest, ContextBeyondTheModelIsRejected) {
  CpuBackend backend(1);
  const ModelWeights w = *SynthesizeWeights(*ModelPreset("tiny"), Format::kQ8_0, 1);
  absl::StatusOr<std::unique_ptr<Session>> s =
      Session::Create(&backend, w, {.max_context = 1 << 20, .max_batch = 16});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
}

// A model larger than all of memory (e.g. a mapped GGUF) is reported as not
// fitting instead of paging from disk on every token.
TEST(SessionCreateTest, WeightsLargerThanMemoryDoNotFit) {
  CpuBackend backend(1);
  ModelConfig huge = *ModelPreset("target-7b");
  huge.n_layers = 1000;  // about 220 GB at F16
  ModelWeights w = *DescribeWeights(huge, Format::kF16);
  static const unsigned char byte = 0;
  for (WeightTensor* t : w.MutableTensors()) t->data = &byte;  // never read
  absl::StatusOr<std::unique_ptr<Session>> s = Session::Create(&backend, w, {.max_context = 16});
  ASSERT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(s.status().message().find("does not fit"), absl::string_view::npos);
}

}  // namespace
}  // namespace aiscore
