// The engine's forward pass on the CUDA backend: Session over the tiny and
// small presets in every basket format against the FP64 reference model
// (the limits of tests/engine/session_test.cc), prefill against decode,
// rollback, greedy generation against the CPU backend, a long prompt in
// micro-batches; and the device-side weight generator, byte for byte
// against SynthesizeWeights. With AISCORE_CUDA_BIG_TESTS=1, the same for
// target-7b in each basket format. Seeds are fresh each run and printed with
// every failure (AISCORE_TEST_SEED replays one).
//
// Test names end in <preset>_<format> ("tiny_Q4_K"), so that
// --gtest_filter='*/tiny_*' picks the quick ones (scripts/gpu-check.sh runs
// those under compute-sanitizer).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <ostream>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "agent/cpu/cpu_backend.h"
#include "agent/engine/model_config.h"
#include "agent/engine/session.h"
#include "agent/engine/synthetic_weights.h"
#include "agent/quant/format.h"
#include "tests/cuda/device_vectors.h"
#include "tests/engine/fp64_reference_model.h"
#include "tests/nmse.h"

namespace aiscore {
namespace {

// Two computations that each meet Fp64ForwardLimit() against FP64 (prefill through
// cuBLAS, decode through the backend's own kernels; the GPU and the CPU)
// differ by about the sum of their errors. The CPU backend measures, against
// FP64, up to 4e-4 (quantized) and 6e-8 (F16) on tiny and small, and 1.4e-3
// and 2e-7 on tiny with 32 layers, the depth of target-7b.
double PathLimit(Format f) { return 2 * Fp64ForwardLimit(f); }
// The same ops on the same inputs in the same order: equal but for the
// order of floating-point atomics, if a kernel uses them.
constexpr double kSamePathLimit = 1e-10;

std::vector<int32_t> RandomTokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> t(n);
  for (int32_t& x : t) x = static_cast<int32_t>(rng() % static_cast<uint64_t>(vocab));
  return t;
}

std::span<const int32_t> Slice(const std::vector<int32_t>& v, size_t begin, size_t end) {
  return std::span<const int32_t>(v).subspan(begin, end - begin);
}

struct ModelCase {
  const char* preset;
  Format format;
};

void PrintTo(const ModelCase& c, std::ostream* os) {
  *os << c.preset << " " << FormatName(c.format);
}

// "draft-1b", Q4_K: "draft_1b_Q4_K" (test names take letters, digits and _).
std::string ModelCaseName(const ::testing::TestParamInfo<ModelCase>& info) {
  std::string name =
      std::string(info.param.preset) + "_" + std::string(Traits(info.param.format).gguf_name);
  std::replace(name.begin(), name.end(), '-', '_');
  return name;
}

std::vector<ModelCase> Cases(std::initializer_list<const char*> presets,
                             std::span<const Format> formats) {
  std::vector<ModelCase> out;
  for (const char* p : presets)
    for (Format f : formats) out.push_back({p, f});
  return out;
}

// ---- The forward pass ----

class ForwardTest : public CudaTestWithParam<ModelCase> {
 protected:
  void SetUp() override {
    CudaTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    seed_ = TestSeed();
    config_ = *ModelPreset(GetParam().preset);
    absl::StatusOr<ModelWeights> w = SynthesizeWeights(config_, GetParam().format, seed_);
    ASSERT_TRUE(w.ok()) << w.status();
    weights_ = *std::move(w);
  }
  absl::StatusOr<std::unique_ptr<Session>> NewSession(Backend& backend, int64_t max_batch = 64,
                                                      int64_t max_context = 128) {
    return Session::Create(&backend, weights_,
                           {.max_context = max_context, .max_batch = max_batch});
  }
  std::vector<int32_t> Tokens(int64_t n, uint64_t salt) {
    return RandomTokens(n, config_.vocab_size, seed_ + salt);
  }

  uint64_t seed_ = 0;
  ModelConfig config_;
  ModelWeights weights_;  // host memory
};

TEST_P(ForwardTest, LogitsMatchFp64Reference) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed_);
  const std::vector<int32_t> tokens = Tokens(9, 1);
  const std::vector<double> want = Fp64Forward(weights_, tokens);
  // 9 tokens in one batch (cuBLAS), then in batches of 4, 4 and 1 (the
  // backend's decode-sized kernels).
  for (const int64_t max_batch : {64, 4}) {
    SCOPED_TRACE(::testing::Message() << "max_batch " << max_batch);
    ASSIGN_OR_FAIL(std::unique_ptr<Session> s, NewSession(cuda(), max_batch));
    ASSERT_STATUS_OK(s->Forward(tokens, 0, Logits::kAll));
    ASSERT_EQ(s->logits().size(), want.size());
    for (float v : s->logits()) ASSERT_TRUE(std::isfinite(v));
    EXPECT_LE(Nmse(want, s->logits()), Fp64ForwardLimit(GetParam().format));
  }
}

TEST_P(ForwardTest, PrefillAgreesWithStepByStepDecode) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed_);
  const std::vector<int32_t> tokens = Tokens(17, 2);
  ASSIGN_OR_FAIL(std::unique_ptr<Session> prefill, NewSession(cuda()));
  ASSERT_STATUS_OK(prefill->Forward(tokens, 0, Logits::kAll));
  // 5 tokens (decode-sized kernels), 9 at position 5 (cuBLAS, attention
  // over an earlier batch), then one at a time.
  ASSIGN_OR_FAIL(std::unique_ptr<Session> steps, NewSession(cuda()));
  std::vector<float> stepwise;
  const size_t cuts[] = {0, 5, 14, 15, 16, 17};
  for (size_t i = 0; i + 1 < std::size(cuts); ++i) {
    ASSERT_STATUS_OK(steps->Forward(Slice(tokens, cuts[i], cuts[i + 1]), cuts[i], Logits::kAll));
    stepwise.insert(stepwise.end(), steps->logits().begin(), steps->logits().end());
  }
  EXPECT_EQ(steps->cached_tokens(), 17);
  EXPECT_LE(Nmse(prefill->logits(), stepwise), PathLimit(GetParam().format));
}

TEST_P(ForwardTest, TruncateRollsBackTheCache) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed_);
  const std::vector<int32_t> a = Tokens(8, 3);
  std::vector<int32_t> b = a;
  b[5] = (b[5] + 1) % config_.vocab_size, b[6] = (b[6] + 3) % config_.vocab_size;
  // Both sessions run the same batches (5 tokens, then 3 at position 5), so
  // their logits agree to the last bit but for atomics' order.
  ASSIGN_OR_FAIL(std::unique_ptr<Session> fresh, NewSession(cuda()));
  ASSERT_STATUS_OK(fresh->Forward(Slice(b, 0, 5), 0, Logits::kNone));
  ASSERT_STATUS_OK(fresh->Forward(Slice(b, 5, 8), 5, Logits::kAll));
  ASSIGN_OR_FAIL(std::unique_ptr<Session> rolled, NewSession(cuda()));
  ASSERT_STATUS_OK(rolled->Forward(Slice(a, 0, 5), 0, Logits::kNone));
  ASSERT_STATUS_OK(rolled->Forward(Slice(a, 5, 8), 5, Logits::kAll));
  rolled->Truncate(5);
  EXPECT_EQ(rolled->cached_tokens(), 5);
  ASSERT_STATUS_OK(rolled->Forward(Slice(b, 5, 8), 5, Logits::kAll));
  EXPECT_LE(Nmse(fresh->logits(), rolled->logits()), kSamePathLimit);
}

// Greedy tokens of the GPU against the CPU backend's, step by step over the
// same prefix. Where they differ, the CPU's top two logits must have been
// a near tie (closer than the error both backends are allowed); from there
// on the sequences part, so the comparison stops.
TEST_P(ForwardTest, GreedyTokensMatchTheCpuWhereTheMarginAllows) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed_);
  constexpr int64_t kSteps = 16;
  const std::vector<int32_t> prompt = Tokens(6, 4);
  ASSIGN_OR_FAIL(std::unique_ptr<Session> gpu, NewSession(cuda()));
  ASSIGN_OR_FAIL(const std::vector<int32_t> got, gpu->Generate(prompt, kSteps));
  ASSERT_EQ(static_cast<int64_t>(got.size()), kSteps);
  CpuBackend cpu(0);
  ASSIGN_OR_FAIL(std::unique_ptr<Session> ref, NewSession(cpu));
  std::vector<int32_t> feed = prompt;
  int64_t matched = 0;
  for (int64_t i = 0; i < kSteps; ++i) {
    ASSERT_STATUS_OK(ref->Forward(feed, ref->cached_tokens(), Logits::kLast));
    const std::vector<float>& l = ref->logits();
    const int32_t want = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
    ASSERT_GE(got[i], 0);
    ASSERT_LT(got[i], config_.vocab_size);
    if (got[i] != want) {
      double sq = 0;
      for (float v : l) sq += double(v) * v;
      const double rms = std::sqrt(sq / l.size());
      const double margin = 3 * std::sqrt(PathLimit(GetParam().format)) * rms;
      EXPECT_LE(l[want] - l[got[i]], margin)
          << "step " << i << ": the GPU chose token " << got[i] << ", the CPU " << want
          << ", whose logit is larger by " << l[want] - l[got[i]] << " (logits' rms " << rms
          << "): not a near tie";
      break;
    }
    ++matched;
    feed = {got[i]};
  }
  RecordProperty("greedy_steps_matched", static_cast<int>(matched));
}

// Weights made on the device (SynthesizeWeightsFor, as the runner makes
// them) and weights uploaded from the host hold the same bytes, so a
// session over each computes the same logits.
TEST_P(ForwardTest, DeviceSynthesizedWeightsGiveTheSameLogits) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed_);
  ASSIGN_OR_FAIL(const ModelWeights on_device,
                 SynthesizeWeightsFor(cuda(), config_, GetParam().format, seed_));
  const std::vector<int32_t> tokens = Tokens(11, 5);
  ASSIGN_OR_FAIL(std::unique_ptr<Session> uploaded, NewSession(cuda()));
  ASSERT_STATUS_OK(uploaded->Forward(tokens, 0, Logits::kAll));
  ASSIGN_OR_FAIL(std::unique_ptr<Session> generated,
                 Session::Create(&cuda(), on_device, {.max_context = 128, .max_batch = 64}));
  ASSERT_STATUS_OK(generated->Forward(tokens, 0, Logits::kAll));
  EXPECT_LE(Nmse(uploaded->logits(), generated->logits()), kSamePathLimit);
}

INSTANTIATE_TEST_SUITE_P(Basket, ForwardTest,
                         ::testing::ValuesIn(Cases({"tiny", "small"}, kBasketFormats)),
                         ModelCaseName);

// A prompt of 1500 tokens: three micro-batches of up to 512, prefill
// attention over earlier batches, against the CPU backend.
class LongPromptTest : public ForwardTest {};

TEST_P(LongPromptTest, MatchesTheCpu) {
  SCOPED_TRACE(::testing::Message() << "seed " << seed_);
  const std::vector<int32_t> tokens = Tokens(1500, 6);
  const SessionOptions options = {.max_context = 2048, .max_batch = 512};
  ASSIGN_OR_FAIL(std::unique_ptr<Session> gpu, Session::Create(&cuda(), weights_, options));
  ASSERT_STATUS_OK(gpu->Forward(tokens, 0, Logits::kAll));
  CpuBackend cpu(0);
  ASSIGN_OR_FAIL(std::unique_ptr<Session> ref, Session::Create(&cpu, weights_, options));
  ASSERT_STATUS_OK(ref->Forward(tokens, 0, Logits::kAll));
  EXPECT_LE(Nmse(ref->logits(), gpu->logits()), PathLimit(GetParam().format));
}

INSTANTIATE_TEST_SUITE_P(Basket, LongPromptTest,
                         ::testing::ValuesIn(Cases({"small"}, kBasketFormats)), ModelCaseName);

// ---- The device-side weight generator ----

// Every tensor of `device` (device memory) holds the bytes of the same
// tensor of `host`.
void ExpectSameWeights(Backend& backend, const ModelWeights& device, const ModelWeights& host) {
  EXPECT_EQ(device.config.name, host.config.name);
  ASSERT_EQ(device.format, host.format);
  const std::vector<const WeightTensor*> d = device.Tensors(), h = host.Tensors();
  ASSERT_EQ(d.size(), h.size());
  int mismatched = 0;
  for (size_t i = 0; i < d.size() && mismatched < 3; ++i) {
    SCOPED_TRACE(h[i]->name);
    EXPECT_EQ(d[i]->name, h[i]->name);
    ASSERT_EQ(d[i]->format, h[i]->format);
    ASSERT_EQ(d[i]->rows, h[i]->rows);
    ASSERT_EQ(d[i]->cols, h[i]->cols);
    ASSERT_NE(d[i]->data, nullptr);
    ASSIGN_OR_FAIL(const int64_t at,
                   FirstDeviceDifference(backend, d[i]->data, h[i]->data, h[i]->bytes()));
    if (at >= 0) {
      ++mismatched;
      const FormatTraits& t = Traits(h[i]->format);
      ADD_FAILURE() << "tensor " << i << " (" << h[i]->name << ", " << t.gguf_name
                    << ") differs first at byte " << at << ": row " << at / h[i]->row_bytes()
                    << ", block " << (at % h[i]->row_bytes()) / t.block_bytes << " of that row";
    }
  }
}

class SynthesisTest : public CudaTestWithParam<ModelCase> {};

TEST_P(SynthesisTest, OnDeviceIsByteExact) {
  const ModelCase c = GetParam();
  const ModelConfig config = *ModelPreset(c.preset);
  const bool basket = std::find(std::begin(kBasketFormats), std::end(kBasketFormats), c.format) !=
                      std::end(kBasketFormats);
  std::vector<uint64_t> seeds = {TestSeed(), kDefaultSyntheticSeed};
  if (config.name != "draft-1b") seeds.insert(seeds.end(), {0, ~uint64_t{0}});
  for (const uint64_t seed : seeds) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    absl::StatusOr<ModelWeights> device = cuda().SynthesizeOnDevice(config, c.format, seed);
    if (!basket && absl::IsUnimplemented(device.status())) {
      GTEST_SKIP() << "no device generator for " << FormatName(c.format)
                   << " (outside the basket; SynthesizeWeightsFor falls back to the host): "
                   << device.status();
    }
    ASSERT_TRUE(device.ok()) << device.status();
    ASSIGN_OR_FAIL(const ModelWeights host, SynthesizeWeights(config, c.format, seed));
    ExpectSameWeights(cuda(), *device, host);
  }
}

INSTANTIATE_TEST_SUITE_P(AllFormats, SynthesisTest,
                         ::testing::ValuesIn(Cases({"tiny", "small", "draft-1b"}, kAllFormats)),
                         ModelCaseName);

// ---- target-7b (AISCORE_CUDA_BIG_TESTS=1) ----

// The basket's model in one format: the weights made on the device against
// the host's, then a prompt and a decode step against the CPU backend.
class Target7bTest : public CudaTestWithParam<ModelCase> {};

TEST_P(Target7bTest, DeviceWeightsAndLogitsMatchTheCpu) {
  if (!CudaBigTestsEnabled()) {
    GTEST_SKIP() << "a 7B model per format: set AISCORE_CUDA_BIG_TESTS=1 to run it";
  }
  const Format format = GetParam().format;
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(::testing::Message() << "seed " << seed);
  const ModelConfig config = *ModelPreset("target-7b");
  ASSIGN_OR_FAIL(const ModelWeights host, SynthesizeWeights(config, format, seed));
  {
    ASSIGN_OR_FAIL(const ModelWeights device, cuda().SynthesizeOnDevice(config, format, seed));
    ExpectSameWeights(cuda(), device, host);
    if (HasFailure()) return;
  }
  const SessionOptions options = {.max_context = 32, .max_batch = 32};
  const std::vector<int32_t> tokens = RandomTokens(13, config.vocab_size, seed);
  std::vector<std::vector<float>> logits[2];  // [gpu, cpu][prompt, step]
  CpuBackend cpu(0);
  for (int b = 0; b < 2; ++b) {
    Backend& backend = b == 0 ? cuda() : static_cast<Backend&>(cpu);
    // The GPU's weights as the runner makes them; the CPU's are `host`.
    ModelWeights weights = host;
    if (b == 0) {
      ASSIGN_OR_FAIL(weights, SynthesizeWeightsFor(cuda(), config, format, seed));
    }
    ASSIGN_OR_FAIL(std::unique_ptr<Session> s, Session::Create(&backend, weights, options));
    ASSERT_STATUS_OK(s->Forward(Slice(tokens, 0, 12), 0, Logits::kAll));
    logits[b].push_back(s->logits());
    ASSERT_STATUS_OK(s->Forward(Slice(tokens, 12, 13), 12, Logits::kLast));
    logits[b].push_back(s->logits());
  }
  for (float v : logits[0][0]) ASSERT_TRUE(std::isfinite(v));
  EXPECT_LE(Nmse(logits[1][0], logits[0][0]), PathLimit(format)) << "prompt of 12";
  EXPECT_LE(Nmse(logits[1][1], logits[0][1]), PathLimit(format)) << "decode step";
}

INSTANTIATE_TEST_SUITE_P(Basket, Target7bTest,
                         ::testing::ValuesIn(Cases({"target-7b"}, kBasketFormats)), ModelCaseName);

}  // namespace
}  // namespace aiscore
