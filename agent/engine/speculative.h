// Speculative decoding: a draft model proposes tokens, the target model
// verifies them in one forward pass, and the accepted prefix is kept.
//
// The benchmark measures the engine's speculative machinery at a fixed
// acceptance rate: which drafted tokens are accepted follows a schedule drawn
// from the suite's seed (synthetic models agree with each other no more than
// chance), so every machine does the same work. Both sessions must hold the
// same prompt before the call. Not thread-safe.
#ifndef AISCORE_AGENT_ENGINE_SPECULATIVE_H_
#define AISCORE_AGENT_ENGINE_SPECULATIVE_H_

#include <cstdint>

#include "absl/status/statusor.h"
#include "agent/engine/session.h"

namespace aiscore {

struct SpeculativeOptions {
  int64_t generate_tokens = 0;   // tokens to produce after the prompt
  int64_t draft_tokens = 4;      // tokens drafted per step
  double acceptance_rate = 0.8;  // fraction of drafted tokens the schedule accepts, in (0, 1]
  uint64_t seed = 0;             // of the acceptance schedule
};

struct SpeculativeResult {
  int64_t tokens = 0;                // tokens produced (>= generate_tokens)
  int64_t steps = 0;                 // draft-and-verify steps
  double seconds = 0;                // the whole decode, s
  double draft_step_seconds = 0;     // one drafted token on the draft model, median, s
  double verify_seconds = 0;         // one verification of draft_tokens + 1 tokens, median, s
  double target_step_seconds = 0;    // one plain decode step of the target, median, s
  double break_even_acceptance = 0;  // acceptance rate at which speculation matches plain decode
};

// Decodes `options.generate_tokens` tokens after the prompt both sessions
// hold. Unimplemented until the engine has speculative decoding; the runner
// records such cases as not run, with this status's message as the reason.
absl::StatusOr<SpeculativeResult> DecodeSpeculatively(Session& target, Session& draft,
                                                      const SpeculativeOptions& options);

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_SPECULATIVE_H_
