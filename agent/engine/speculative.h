// Speculative decoding: a draft model proposes tokens, the target model
// verifies them in one forward pass, and the accepted prefix is kept.
//
// Each step the draft proposes k tokens greedily (k single-token forward
// passes; after a step that accepted everything, the first of them also feeds
// the drafted token the draft has not seen yet). The target then runs its last
// emitted token and the k drafted tokens in one forward pass over k + 1
// positions, which reads its weights once. The step emits the accepted prefix
// of the drafted tokens plus one token of the target's own: its greedy token
// after the first rejected position, or after the k-th drafted token when all
// were accepted. Both KV caches are then truncated to the emitted sequence, so
// that they hold exactly what a run that never saw the rejected tokens holds.
//
// Which drafted tokens are accepted:
// - kGreedyMatch (real models): a drafted token is accepted when it equals the
//   target's greedy token at its position. The output is then the target's
//   plain greedy decoding (the algorithm's guarantee), bit for bit where the
//   backend gives a token the same logits in a pass over several tokens as
//   in a pass over one (docs/speculative.md names the one CPU kernel that
//   does not).
// - kSchedule (the benchmark, synthetic weights, whose models agree no more
//   than chance): a seeded Bernoulli(acceptance_rate) schedule decides per
//   sequence position (AcceptedBySchedule), so every machine does the same
//   work. An accepted position keeps the drafted token; the token after the
//   accepted prefix is still the target's own greedy output.
// docs/speculative.md defines the schedule, the timings and the formulas.
//
// Timings (the backend's DeviceTimer, around each forward pass; picking
// tokens on the host is outside them): every draft forward pass, every
// verification, and, as the yardstick of the cost ratios, one plain
// single-token decode step of the target per step at the step's depth, run
// before the draft steps so that it follows the target's previous pass as in
// plain decoding; the verification overwrites what it wrote. The plain steps
// are not part of `seconds`.
//
// Not thread-safe: drives both sessions (and their backends) from the
// calling thread.
#ifndef AISCORE_AGENT_ENGINE_SPECULATIVE_H_
#define AISCORE_AGENT_ENGINE_SPECULATIVE_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/engine/session.h"
#include "agent/engine/speculative_formulas.h"

namespace aiscore {

// How drafted tokens are accepted.
enum class Acceptance {
  kSchedule,     // the seeded schedule at acceptance_rate (synthetic models)
  kGreedyMatch,  // equal to the target's greedy token (real models)
};

struct SpeculativeOptions {
  int64_t generate_tokens = 0;  // tokens to produce after the first one; >= 1
  int64_t draft_tokens = 4;     // k, tokens drafted per step; >= 1
  Acceptance acceptance = Acceptance::kSchedule;
  double acceptance_rate = 0.8;  // kSchedule: alpha, in (0, 1]
  uint64_t seed = 0;             // kSchedule: of the schedule
};

struct SpeculativeResult {
  // Every token emitted after the prompt, in order: output[0] is the target's
  // greedy token after the prompt (from the untimed prefill), then the tokens
  // of the steps. [tokens + 1]
  std::vector<int32_t> output;
  int64_t tokens = 0;    // tokens the steps produced (>= generate_tokens)
  int64_t steps = 0;     // draft-and-verify steps
  int64_t drafted = 0;   // steps x k
  int64_t accepted = 0;  // drafted tokens accepted
  // The acceptance rate the run realized: the a at which E(a) (below) equals
  // tokens / steps. With the schedule, a sample of acceptance_rate.
  double acceptance = 0;

  double seconds = 0;              // sum of the draft forward passes and verifications, s
  double draft_step_seconds = 0;   // one draft forward pass, median, s
  double verify_seconds = 0;       // one verification of k + 1 tokens, median, s
  double target_step_seconds = 0;  // one plain decode step of the target, median, s

  double cost_ratio = 0;    // c = draft_step_seconds / target_step_seconds
  double verify_ratio = 0;  // v = verify_seconds / target_step_seconds
  // Measured speedup over plain decoding at the same depth:
  // (tokens / seconds) x target_step_seconds.
  double speedup = 0;
  // Leviathan et al.'s predicted speedup with the measured c (verification
  // costing one target step): SpeculativeSpeedup(k, a, c, 1), a being
  // acceptance_rate (kSchedule) or `acceptance` (kGreedyMatch).
  double predicted_speedup = 0;
  // SpeculativeBreakEven(k, c, v): with the measured verification cost.
  double break_even_acceptance = 0;
};

// Prefills `prompt` (at least one token) into both sessions at their
// cached_tokens(), which must be equal, takes the target's greedy token after
// it (untimed), then decodes speculatively until the steps have produced at
// least `options.generate_tokens` tokens. The sessions must share a
// vocabulary and have room for cached + prompt + generate_tokens +
// draft_tokens positions. Afterwards the target's cache holds the prompt and
// every output token but the last; the draft's holds a prefix of that.
// InvalidArgument for bad options or sessions (the message names what);
// otherwise the sessions' errors.
absl::StatusOr<SpeculativeResult> DecodeSpeculatively(Session& target, Session& draft,
                                                      std::span<const int32_t> prompt,
                                                      const SpeculativeOptions& options);

// Whether the schedule accepts the drafted token at sequence position
// `position` (its index counting from the first prompt token): u < rate, u
// being SplitMix64 output `position + 1` of `seed` mapped to [0, 1) by its top
// 53 bits (docs/speculative.md).
bool AcceptedBySchedule(uint64_t seed, double acceptance_rate, int64_t position);

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_SPECULATIVE_H_
