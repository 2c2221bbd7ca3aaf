// What the collector-side fuzz targets (envelope_verify_fuzzer,
// run_result_verify_fuzzer) and their seed writer (write_fuzz_seeds) share:
// the collector's verifier as aiscore-collector builds it, a fixed clock and
// a fixed signing key, so that a seed that verifies today verifies in every
// later run and a crash reproduces from its input alone. Each is built once,
// on first use, and never destroyed; thread-safe.
#ifndef AISCORE_TESTS_FUZZ_FUZZ_VERIFIER_H_
#define AISCORE_TESTS_FUZZ_FUZZ_VERIFIER_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/time/time.h"
#include "agent/sign/key_pair.h"
#include "collector/verify/device_limits.h"
#include "collector/verify/submission_verifier.h"
#include "tests/collector/quick_result.h"

namespace aiscore {

// The verifier's clock: the one the collector's tests (and the seeds) use.
inline absl::Time FuzzNow() { return kQuickResultNow; }

// The collector's verifier: its options, every built-in suite registered.
inline const SubmissionVerifier& FuzzVerifier() {
  static const SubmissionVerifier* verifier = [] {
    auto* v = new SubmissionVerifier(CollectorVerifierOptions());
    if (absl::Status s = v->RegisterBuiltInSuites(); !s.ok()) {
      std::fprintf(stderr, "cannot register the built-in suites: %s\n", s.ToString().c_str());
      std::abort();
    }
    return v;
  }();
  return *verifier;
}

// The agent key the fuzz targets sign with: seed bytes 0x42.
inline const KeyPair& FuzzKey() {
  static const KeyPair* key = [] {
    absl::StatusOr<KeyPair> k = KeyPair::FromSeed(std::string(kKeySeedBytes, '\x42'));
    if (!k.ok()) std::abort();
    return new KeyPair(*k);
  }();
  return *key;
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_FUZZ_FUZZ_VERIFIER_H_
