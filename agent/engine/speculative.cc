#include "agent/engine/speculative.h"

#include <algorithm>
#include <memory>
#include <vector>

#include "absl/strings/str_format.h"

namespace aiscore {
namespace {

constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ull;

// SplitMix64's finalizer.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Index of the largest of row[0 .. cols) (the first, on ties), as the
// backends' Argmax.
int32_t ArgmaxRow(const float* row, int64_t cols) {
  return static_cast<int32_t>(std::max_element(row, row + cols) - row);
}

// Median of a non-empty sample (the mean of the middle two for even n).
double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

absl::Status CheckOptions(const Session& target, const Session& draft,
                          std::span<const int32_t> prompt, const SpeculativeOptions& o) {
  if (o.draft_tokens < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "draft_tokens = %d: at least one token must be drafted per step", o.draft_tokens));
  }
  if (o.generate_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("generate_tokens = %d: must be positive", o.generate_tokens));
  }
  if (o.acceptance == Acceptance::kSchedule && !(o.acceptance_rate > 0 && o.acceptance_rate <= 1)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "acceptance_rate = %g: the schedule's rate must be in (0, 1]", o.acceptance_rate));
  }
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (target.config().vocab_size != draft.config().vocab_size) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the draft model '%s' has a vocabulary of %d tokens, the target '%s' %d: they must share "
        "one",
        draft.config().name, draft.config().vocab_size, target.config().name,
        target.config().vocab_size));
  }
  if (target.cached_tokens() != draft.cached_tokens()) {
    return absl::InvalidArgumentError(
        absl::StrFormat("the target holds %d tokens and the draft %d: they must hold the same",
                        target.cached_tokens(), draft.cached_tokens()));
  }
  const int64_t needed = target.cached_tokens() + static_cast<int64_t>(prompt.size()) +
                         o.generate_tokens + o.draft_tokens;
  const int64_t context = std::min(target.options().max_context, draft.options().max_context);
  if (needed > context) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "not enough context: %d cached + %d prompt + %d generated + %d drafted tokens need %d "
        "positions, the sessions hold %d",
        target.cached_tokens(), prompt.size(), o.generate_tokens, o.draft_tokens, needed, context));
  }
  return absl::OkStatus();
}

// One timed forward pass.
absl::StatusOr<double> TimedForward(Session& s, DeviceTimer& timer, std::span<const int32_t> tokens,
                                    int64_t pos, Logits logits) {
  timer.Start();
  const absl::Status status = s.Forward(tokens, pos, logits);
  absl::StatusOr<double> seconds = timer.Stop();
  if (!status.ok()) return status;
  return seconds;
}

}  // namespace

bool AcceptedBySchedule(uint64_t seed, double acceptance_rate, int64_t position) {
  const uint64_t word = Mix(seed + kGolden * static_cast<uint64_t>(position + 1));
  const double u = static_cast<double>(word >> 11) * 0x1.0p-53;
  return u < acceptance_rate;
}

absl::StatusOr<SpeculativeResult> DecodeSpeculatively(Session& target, Session& draft,
                                                      std::span<const int32_t> prompt,
                                                      const SpeculativeOptions& options) {
  if (absl::Status s = CheckOptions(target, draft, prompt, options); !s.ok()) return s;
  const int64_t k = options.draft_tokens;
  const int64_t vocab = target.config().vocab_size;

  // The prompt, untimed, and the target's first token.
  const int64_t start = target.cached_tokens();
  if (absl::Status s = target.Forward(prompt, start, Logits::kLast); !s.ok()) return s;
  if (absl::Status s = draft.Forward(prompt, start, Logits::kNone); !s.ok()) return s;
  SpeculativeResult r;
  r.output.push_back(ArgmaxRow(target.logits().data(), vocab));

  std::unique_ptr<DeviceTimer> target_timer = target.backend()->CreateTimer();
  std::unique_ptr<DeviceTimer> draft_timer = draft.backend()->CreateTimer();
  std::vector<double> draft_times, verify_times, target_times;
  // The target's cache holds positions [0, n); the last output token sits at
  // position n. The draft's cache holds [0, draft.cached_tokens()) and
  // `pending` the tokens after that, up to and including the last output token.
  int64_t n = target.cached_tokens();
  std::vector<int32_t> pending = {r.output.back()};
  std::vector<int32_t> verify(k + 1);  // [k + 1]: the last output token, then the drafts
  while (r.tokens < options.generate_tokens) {
    // The yardstick: the plain decode step of the target at this depth, right
    // after its previous pass as in plain decoding (on a model that fits in
    // the caches, the draft steps would otherwise have evicted its weights).
    // The verification overwrites the position it writes.
    verify[0] = r.output.back();
    absl::StatusOr<double> t = TimedForward(
        target, *target_timer, std::span<const int32_t>(verify.data(), 1), n, Logits::kLast);
    if (!t.ok()) return t.status();
    target_times.push_back(*t);

    // Draft k tokens greedily.
    std::span<const int32_t> feed = pending;
    for (int64_t i = 1; i <= k; ++i) {
      t = TimedForward(draft, *draft_timer, feed, draft.cached_tokens(), Logits::kLast);
      if (!t.ok()) return t.status();
      draft_times.push_back(*t);
      verify[i] = ArgmaxRow(draft.logits().data(), vocab);
      feed = std::span<const int32_t>(&verify[i], 1);
    }

    // Verify all k + 1 positions in one pass; row j holds the target's greedy
    // token after verify[0 .. j].
    t = TimedForward(target, *target_timer, verify, n, Logits::kAll);
    if (!t.ok()) return t.status();
    verify_times.push_back(*t);
    const float* logits = target.logits().data();

    // The accepted prefix d_1 .. d_m, then the target's own token.
    int64_t m = 0;
    while (m < k) {
      const int64_t i = m + 1;  // drafted token d_i sits at position n + i
      const bool accept = options.acceptance == Acceptance::kGreedyMatch
                              ? verify[i] == ArgmaxRow(logits + (i - 1) * vocab, vocab)
                              : AcceptedBySchedule(options.seed, options.acceptance_rate, n + i);
      if (!accept) break;
      r.output.push_back(verify[i]);
      ++m;
    }
    r.output.push_back(ArgmaxRow(logits + m * vocab, vocab));
    r.tokens += m + 1;
    r.accepted += m;
    r.drafted += k;
    ++r.steps;

    // Roll back: both caches keep verify[0 .. m] at positions n .. n + m. The
    // draft never fed d_k, so after a full acceptance it still needs d_k.
    n += m + 1;
    target.Truncate(n);
    draft.Truncate(n);
    pending.assign(r.output.end() - (n + 1 - draft.cached_tokens()), r.output.end());
  }

  for (double x : draft_times) r.seconds += x;
  for (double x : verify_times) r.seconds += x;
  r.draft_step_seconds = Median(draft_times);
  r.verify_seconds = Median(verify_times);
  r.target_step_seconds = Median(target_times);
  r.cost_ratio = r.draft_step_seconds / r.target_step_seconds;
  r.verify_ratio = r.verify_seconds / r.target_step_seconds;
  r.speedup = static_cast<double>(r.tokens) / r.seconds * r.target_step_seconds;
  r.acceptance =
      SpeculativeAcceptanceFor(k, static_cast<double>(r.tokens) / static_cast<double>(r.steps));
  const double a =
      options.acceptance == Acceptance::kSchedule ? options.acceptance_rate : r.acceptance;
  r.predicted_speedup = SpeculativeSpeedup(k, a, r.cost_ratio, 1.0);
  r.break_even_acceptance = SpeculativeBreakEven(k, r.cost_ratio, r.verify_ratio);
  return r;
}

}  // namespace aiscore
