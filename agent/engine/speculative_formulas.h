// The arithmetic of speculative decoding's expected gain, in one place for
// the engine (its measured and predicted speedups) and for scoring (the
// suite's reference values). Header-only and free of the engine's types, so
// that scoring uses it without linking the engine.
#ifndef AISCORE_AGENT_ENGINE_SPECULATIVE_FORMULAS_H_
#define AISCORE_AGENT_ENGINE_SPECULATIVE_FORMULAS_H_

#include <cstdint>

namespace aiscore {

// E(a): the tokens a step of k drafted tokens yields on average when each is
// accepted with probability a until the first rejection, plus the target's
// own token: sum of a^i for i = 0..k = (1 - a^(k+1)) / (1 - a), k + 1 at a = 1.
inline double SpeculativeTokensPerStep(int64_t k, double a) {
  double sum = 0, power = 1;
  for (int64_t i = 0; i <= k; ++i, power *= a) sum += power;
  return sum;
}

// The speedup over plain decoding of speculation with k drafted tokens per
// step, a draft step costing c and a verification costing v plain target
// steps: E(a) / (k c + v). With v = 1 this is Leviathan et al. (2023), eq. 1's
// improvement factor.
inline double SpeculativeSpeedup(int64_t k, double a, double c, double v) {
  return SpeculativeTokensPerStep(k, a) / (static_cast<double>(k) * c + v);
}

// The acceptance rate a with E(a) = tokens, by bisection (E is increasing,
// E(0) = 1, E(1) = k + 1): 0 below that range, 1 above it.
inline double SpeculativeAcceptanceFor(int64_t k, double tokens) {
  if (tokens <= 1) return 0;
  if (tokens >= static_cast<double>(k + 1)) return 1;
  double lo = 0, hi = 1;
  for (int i = 0; i < 100; ++i) {
    const double mid = 0.5 * (lo + hi);
    (SpeculativeTokensPerStep(k, mid) < tokens ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// The acceptance rate at which SpeculativeSpeedup(k, a, c, v) = 1: 0 when
// speculation pays at any acceptance (k c + v <= 1), 1 when it does not pay
// even at full acceptance (k c + v >= k + 1).
inline double SpeculativeBreakEven(int64_t k, double c, double v) {
  return SpeculativeAcceptanceFor(k, static_cast<double>(k) * c + v);
}

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_SPECULATIVE_FORMULAS_H_
