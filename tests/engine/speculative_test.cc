// Speculative decoding on the CPU backend with tiny synthetic models: with
// greedy-match acceptance the output is the target's plain greedy decoding
// (a draft equal to the target has every token accepted); after rejections
// both caches hold what a run that never saw the rejected tokens holds; the
// seeded schedule is deterministic and accepts about its rate; bad options
// are InvalidArgument; the cost formulas.
#include "agent/engine/speculative.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "agent/cpu/cpu_backend.h"
#include "agent/engine/synthetic_weights.h"
#include "tests/nmse.h"

namespace aiscore {
namespace {

using ::testing::HasSubstr;

// The target: the tiny preset with 4 layers. Drafts share its vocabulary.
ModelConfig TargetConfig() {
  ModelConfig c = *ModelPreset("tiny");
  c.name = "tiny-target";
  c.n_layers = 4;
  return c;
}

// The target's first 2 layers with its embeddings and head: synthetic tensors
// depend on their position in file order, so with the target's seed this is
// the target cut short (an early exit), which agrees with it often, not always.
ModelConfig ShallowDraftConfig() {
  ModelConfig c = TargetConfig();
  c.name = "tiny-shallow-draft";
  c.n_layers = 2;
  return c;
}

// A smaller model with the same vocabulary, made from another seed: it agrees
// with the target by chance only.
ModelConfig OtherDraftConfig() {
  ModelConfig c = TargetConfig();
  c.name = "tiny-other-draft";
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.d_ff = 256;
  return c;
}
constexpr uint64_t kOtherSeedOffset = 1000;

struct Kernels {
  Isa isa;
  Format format;
};

// Greedy-match speculation reproduces plain greedy decoding bit for bit when
// a pass over k + 1 tokens gives each token the logits a one-token pass gives
// it. The CPU kernels do for passes of up to 16 tokens (attention runs token
// by token up to CpuBackend::kTokenwiseAttentionTokens). AVX-512 Q8_0 does on
// its panels, that is on matrices whose rows are a multiple of 16, as these
// models' and Llama's are; rows past the last panel are decoded one at a
// time, summing in another order than its multi-token tile.
class GreedyMatchTest : public ::testing::TestWithParam<Kernels> {
 protected:
  void SetUp() override {
    if (!IsaSupported(GetParam().isa)) GTEST_SKIP() << "this CPU lacks " << IsaName(GetParam().isa);
    // One thread: the models are tiny, and other processes may hold the cores.
    backend_ = std::make_unique<CpuBackend>(1, GetParam().isa);
  }

  std::unique_ptr<Session> NewSession(const ModelConfig& config, uint64_t seed) {
    absl::StatusOr<ModelWeights> w = SynthesizeWeights(config, GetParam().format, seed);
    EXPECT_TRUE(w.ok()) << w.status();
    absl::StatusOr<std::unique_ptr<Session>> s =
        Session::Create(backend_.get(), *w, {.max_context = 256, .max_batch = 64});
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }

  // The target's plain greedy decoding: `count` tokens after `prompt`.
  std::vector<int32_t> Greedy(uint64_t seed, const std::vector<int32_t>& prompt, int64_t count) {
    absl::StatusOr<std::vector<int32_t>> out =
        NewSession(TargetConfig(), seed)->Generate(prompt, count);
    EXPECT_TRUE(out.ok()) << out.status();
    return *out;
  }

  std::unique_ptr<CpuBackend> backend_;
};

SpeculativeOptions GreedyMatch(int64_t generate, int64_t k) {
  SpeculativeOptions o;
  o.generate_tokens = generate;
  o.draft_tokens = k;
  o.acceptance = Acceptance::kGreedyMatch;
  return o;
}

TEST_P(GreedyMatchTest, DraftEqualToTargetAcceptsEveryTokenAndDecodesGreedily) {
  for (int64_t k : {1, 4, 7}) {
    const std::vector<int32_t> prompt = SyntheticTokens(12, TargetConfig().vocab_size, 100 + k);
    std::unique_ptr<Session> target = NewSession(TargetConfig(), 7);
    std::unique_ptr<Session> draft = NewSession(TargetConfig(), 7);
    absl::StatusOr<SpeculativeResult> r =
        DecodeSpeculatively(*target, *draft, prompt, GreedyMatch(40, k));
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->accepted, r->drafted) << "k " << k;
    EXPECT_EQ(r->acceptance, 1) << "k " << k;
    EXPECT_EQ(r->tokens, r->steps * (k + 1)) << "k " << k;
    EXPECT_GE(r->tokens, 40);
    ASSERT_EQ(static_cast<int64_t>(r->output.size()), r->tokens + 1);
    EXPECT_EQ(r->output, Greedy(7, prompt, r->tokens + 1)) << "k " << k;
  }
}

TEST_P(GreedyMatchTest, DifferentDraftStillGivesTheTargetsGreedyDecoding) {
  int64_t accepted = 0, rejected = 0;
  for (uint64_t seed : {1, 2}) {
    const std::vector<int32_t> prompt = SyntheticTokens(10, TargetConfig().vocab_size, seed);
    const std::vector<int32_t> greedy = Greedy(seed, prompt, 32);
    for (int64_t k : {1, 4, 7}) {
      for (const auto& [draft_config, draft_seed] :
           {std::pair{ShallowDraftConfig(), seed}, {OtherDraftConfig(), seed + kOtherSeedOffset}}) {
        std::unique_ptr<Session> target = NewSession(TargetConfig(), seed);
        std::unique_ptr<Session> draft = NewSession(draft_config, draft_seed);
        absl::StatusOr<SpeculativeResult> r =
            DecodeSpeculatively(*target, *draft, prompt, GreedyMatch(24, k));
        ASSERT_TRUE(r.ok()) << r.status();
        ASSERT_LE(r->output.size(), greedy.size());
        EXPECT_EQ(r->output, std::vector<int32_t>(greedy.begin(), greedy.begin() + r->tokens + 1))
            << "seed " << seed << " k " << k << " draft " << draft_config.name;
        EXPECT_EQ(r->tokens, r->steps + r->accepted);
        accepted += r->accepted;
        rejected += r->drafted - r->accepted;
      }
    }
  }
  // Both paths ran: accepted prefixes and rejections.
  EXPECT_GT(accepted, 0);
  EXPECT_GT(rejected, 0);
}

// After a run with rejections, the target's cache must equal that of a session
// fed exactly the prompt and the output but its last token, and the draft's a
// prefix of that: the logits of the same following tokens agree.
TEST_P(GreedyMatchTest, CachesAfterRejectionsEqualThoseOfARunWithoutThem) {
  const std::vector<int32_t> prompt = SyntheticTokens(9, TargetConfig().vocab_size, 5);
  for (Acceptance acceptance : {Acceptance::kGreedyMatch, Acceptance::kSchedule}) {
    std::unique_ptr<Session> target = NewSession(TargetConfig(), 5);
    std::unique_ptr<Session> draft = NewSession(ShallowDraftConfig(), 5);
    SpeculativeOptions o = GreedyMatch(40, 4);
    o.acceptance = acceptance;
    o.acceptance_rate = 0.6;
    o.seed = 11;
    absl::StatusOr<SpeculativeResult> r = DecodeSpeculatively(*target, *draft, prompt, o);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_LT(r->accepted, r->drafted) << "no rejection to roll back";

    std::vector<int32_t> sequence = prompt;  // the prompt, then the output
    sequence.insert(sequence.end(), r->output.begin(), r->output.end());
    const int64_t length = static_cast<int64_t>(sequence.size());
    EXPECT_EQ(target->cached_tokens(), length - 1);
    EXPECT_LE(draft->cached_tokens(), length - 1);
    EXPECT_GE(draft->cached_tokens(), length - 2);

    // Three tokens after the cached ones, on the rolled-back and on fresh sessions.
    const std::vector<int32_t> next = {sequence.back(), 3, 17};
    for (const auto& [session, config] :
         {std::pair{target.get(), TargetConfig()}, std::pair{draft.get(), ShallowDraftConfig()}}) {
      const int64_t cached = session->cached_tokens();
      std::vector<int32_t> tail(sequence.begin() + cached, sequence.end() - 1);
      tail.insert(tail.end(), next.begin(), next.end());
      ASSERT_TRUE(session->Forward(tail, cached, Logits::kAll).ok());
      // The fresh session takes the same tokens in batches no longer than
      // the speculative run's, so that both run the token-by-token attention
      // (CpuBackend::kTokenwiseAttentionTokens) and the caches can agree bit
      // for bit.
      std::unique_ptr<Session> fresh = NewSession(config, 5);
      std::vector<int32_t> all(sequence.begin(), sequence.end() - 1);
      all.insert(all.end(), next.begin(), next.end());
      const int64_t head = static_cast<int64_t>(all.size()) - 3;
      for (int64_t p = 0; p < head; p += 8) {
        const std::span<const int32_t> batch(all.data() + p, std::min<int64_t>(8, head - p));
        ASSERT_TRUE(fresh->Forward(batch, p, Logits::kNone).ok());
      }
      ASSERT_TRUE(
          fresh->Forward(std::span<const int32_t>(all.data() + head, 3), head, Logits::kAll).ok());
      const std::vector<float> want(fresh->logits().end() - 3 * config.vocab_size,
                                    fresh->logits().end());
      const std::vector<float> got(session->logits().end() - 3 * config.vocab_size,
                                   session->logits().end());
      EXPECT_LE(Nmse(want, got), 1e-12) << config.name;
    }
  }
}

std::vector<Kernels> AllKernels() {
  std::vector<Kernels> out;
  for (Isa isa : kAllIsas) {
    for (Format f : kBasketFormats) out.push_back({isa, f});
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(All, GreedyMatchTest, ::testing::ValuesIn(AllKernels()),
                         [](const auto& info) {
                           return std::string(IsaName(info.param.isa)) + "_" +
                                  std::string(Traits(info.param.format).gguf_name);
                         });

class SpeculativeTest : public ::testing::Test {
 protected:
  std::unique_ptr<Session> NewSession(const ModelConfig& config, uint64_t seed, int64_t context) {
    absl::StatusOr<ModelWeights> w = SynthesizeWeights(config, Format::kQ8_0, seed);
    EXPECT_TRUE(w.ok()) << w.status();
    absl::StatusOr<std::unique_ptr<Session>> s =
        Session::Create(&backend_, *w, {.max_context = context, .max_batch = 64});
    EXPECT_TRUE(s.ok()) << s.status();
    return *std::move(s);
  }

  CpuBackend backend_{1};
};

TEST_F(SpeculativeTest, ScheduleIsDeterministicAndAcceptsAboutItsRate) {
  const std::vector<int32_t> prompt = SyntheticTokens(8, TargetConfig().vocab_size, 9);
  SpeculativeOptions o;
  o.generate_tokens = 200;
  o.draft_tokens = 4;
  o.acceptance = Acceptance::kSchedule;
  o.acceptance_rate = 0.7;
  o.seed = 20260601;
  std::vector<SpeculativeResult> runs;
  for (int i = 0; i < 2; ++i) {
    std::unique_ptr<Session> target = NewSession(TargetConfig(), 3, 512);
    std::unique_ptr<Session> draft = NewSession(OtherDraftConfig(), 3 + kOtherSeedOffset, 512);
    absl::StatusOr<SpeculativeResult> r = DecodeSpeculatively(*target, *draft, prompt, o);
    ASSERT_TRUE(r.ok()) << r.status();
    runs.push_back(*r);
  }
  const SpeculativeResult& r = runs[0];
  EXPECT_EQ(runs[1].output, r.output);
  EXPECT_EQ(runs[1].accepted, r.accepted);
  EXPECT_GE(r.tokens, o.generate_tokens);
  EXPECT_LT(r.tokens, o.generate_tokens + o.draft_tokens + 1);
  EXPECT_EQ(r.tokens, r.steps + r.accepted);
  EXPECT_EQ(r.drafted, 4 * r.steps);
  EXPECT_EQ(static_cast<int64_t>(r.output.size()), r.tokens + 1);

  // Tokens per step estimate E(0.7) = 1 + 0.7 + 0.49 + 0.343 + 0.2401 = 2.7731
  // (one step's count has a standard deviation of about 1.4; the mean over
  // about 72 steps, of about 0.17).
  const double per_step = static_cast<double>(r.tokens) / static_cast<double>(r.steps);
  EXPECT_NEAR(per_step, 2.7731, 0.5);
  // The realized acceptance is the rate with that many tokens per step.
  EXPECT_NEAR(SpeculativeSpeedup(4, r.acceptance, 0, 1), per_step, 1e-9);
  EXPECT_NEAR(r.acceptance, 0.7, 0.1);
  // Over many positions the schedule accepts its rate.
  int64_t hits = 0;
  for (int64_t p = 0; p < 100000; ++p) hits += AcceptedBySchedule(o.seed, 0.7, p);
  EXPECT_NEAR(hits / 100000.0, 0.7, 0.01);
  for (int64_t p = 0; p < 1000; ++p) EXPECT_TRUE(AcceptedBySchedule(o.seed, 1.0, p));

  // The figures are consistent with each other.
  EXPECT_GT(r.seconds, 0);
  EXPECT_GT(r.draft_step_seconds, 0);
  EXPECT_GT(r.verify_seconds, 0);
  EXPECT_GT(r.target_step_seconds, 0);
  EXPECT_DOUBLE_EQ(r.cost_ratio, r.draft_step_seconds / r.target_step_seconds);
  EXPECT_DOUBLE_EQ(r.verify_ratio, r.verify_seconds / r.target_step_seconds);
  EXPECT_DOUBLE_EQ(r.speedup, r.tokens / r.seconds * r.target_step_seconds);
  EXPECT_DOUBLE_EQ(r.predicted_speedup, SpeculativeSpeedup(4, 0.7, r.cost_ratio, 1));
  EXPECT_DOUBLE_EQ(r.break_even_acceptance, SpeculativeBreakEven(4, r.cost_ratio, r.verify_ratio));
}

// The generator of docs/speculative.md, for other engines to reproduce.
TEST(AcceptedByScheduleTest, IsSplitMix64OfThePosition) {
  // SplitMix64 from state 0: its first two outputs are well known.
  const double u0 = static_cast<double>(0xe220a8397b1dcdafull >> 11) * 0x1.0p-53;
  const double u1 = static_cast<double>(0x6e789e6aa1b965f4ull >> 11) * 0x1.0p-53;
  EXPECT_TRUE(AcceptedBySchedule(0, u0 + 1e-12, 0));
  EXPECT_FALSE(AcceptedBySchedule(0, u0, 0));  // accepted when u < rate
  EXPECT_TRUE(AcceptedBySchedule(0, u1 + 1e-12, 1));
  EXPECT_FALSE(AcceptedBySchedule(0, u1, 1));
  // The check values of docs/speculative.md.
  std::string decisions;
  for (int64_t p = 64; p < 96; ++p) decisions += AcceptedBySchedule(20260601, 0.8, p) ? '1' : '0';
  EXPECT_EQ(decisions, "11110111011111111110110011110111");
}

TEST_F(SpeculativeTest, BadOptionsAreInvalidArgument) {
  const std::vector<int32_t> prompt = SyntheticTokens(8, TargetConfig().vocab_size, 1);
  std::unique_ptr<Session> target = NewSession(TargetConfig(), 1, 64);
  std::unique_ptr<Session> draft = NewSession(OtherDraftConfig(), 1, 64);
  auto message = [&](Session& d, std::span<const int32_t> p, const SpeculativeOptions& o) {
    absl::StatusOr<SpeculativeResult> r = DecodeSpeculatively(*target, d, p, o);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    return std::string(r.status().message());
  };
  SpeculativeOptions o;
  o.generate_tokens = 8;
  o.draft_tokens = 0;
  EXPECT_THAT(message(*draft, prompt, o), HasSubstr("draft_tokens = 0"));
  o.draft_tokens = 4;
  o.generate_tokens = 0;
  EXPECT_THAT(message(*draft, prompt, o), HasSubstr("generate_tokens = 0"));
  o.generate_tokens = 8;
  for (double rate : {0.0, -0.5, 1.5, std::nan("")}) {
    o.acceptance_rate = rate;
    EXPECT_THAT(message(*draft, prompt, o), HasSubstr("acceptance_rate"));
  }
  o.acceptance_rate = 0.8;
  o.generate_tokens = 53;  // 8 prompt + 53 + 4 drafted > 64
  EXPECT_THAT(message(*draft, prompt, o), HasSubstr("not enough context"));
  o.generate_tokens = 52;  // fits exactly
  absl::StatusOr<SpeculativeResult> fits = DecodeSpeculatively(*target, *draft, prompt, o);
  EXPECT_TRUE(fits.ok()) << fits.status();
  target->Reset();
  draft->Reset();
  o.generate_tokens = 8;

  ModelConfig other_vocab = OtherDraftConfig();
  other_vocab.vocab_size = 256;
  std::unique_ptr<Session> other = NewSession(other_vocab, 1, 64);
  EXPECT_THAT(message(*other, prompt, o), HasSubstr("must share one"));
  EXPECT_THAT(message(*draft, {}, o), HasSubstr("prompt is empty"));
  ASSERT_TRUE(draft->Forward(prompt, 0, Logits::kNone).ok());
  EXPECT_THAT(message(*draft, prompt, o), HasSubstr("must hold the same"));
  EXPECT_EQ(target->cached_tokens(), 0);  // nothing ran
}

TEST(SpeculativeFormulaTest, SpeedupAndBreakEven) {
  // E(a) / (k c + v): k = 4, a = 0.8 gives E = 3.3616.
  EXPECT_NEAR(SpeculativeSpeedup(4, 0.8, 0.1, 1), 3.3616 / 1.4, 1e-12);
  EXPECT_NEAR(SpeculativeSpeedup(4, 0.8, 0.1, 1.2), 3.3616 / 1.6, 1e-12);
  EXPECT_DOUBLE_EQ(SpeculativeSpeedup(4, 1.0, 0.25, 1), 5.0 / 2.0);  // k + 1 at a = 1
  EXPECT_DOUBLE_EQ(SpeculativeSpeedup(3, 0.0, 0.0, 1), 1.0);
  // Leviathan et al.'s closed form.
  for (double a : {0.1, 0.5, 0.9}) {
    EXPECT_NEAR(SpeculativeSpeedup(4, a, 0.2, 1), (1 - std::pow(a, 5)) / ((1 - a) * (4 * 0.2 + 1)),
                1e-12);
  }
  for (double c : {0.05, 0.2, 0.5}) {
    for (double v : {1.0, 1.3}) {
      const double a = SpeculativeBreakEven(4, c, v);
      EXPECT_GT(a, 0);
      EXPECT_LT(a, 1);
      EXPECT_NEAR(SpeculativeSpeedup(4, a, c, v), 1.0, 1e-9) << c << " " << v;
    }
  }
  EXPECT_EQ(SpeculativeBreakEven(4, 0.0, 1.0), 0);  // pays at any acceptance
  EXPECT_EQ(SpeculativeBreakEven(4, 1.0, 1.0), 1);  // 4 c + v = k + 1: only at a = 1
  EXPECT_EQ(SpeculativeBreakEven(4, 1.5, 1.0), 1);  // never pays
}

}  // namespace
}  // namespace aiscore
