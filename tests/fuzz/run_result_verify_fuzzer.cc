// libFuzzer target: the collector's checks behind the signature. The input is
// the payload, a serialized aiscore.v1.RunResult (or any bytes); the target
// signs it as the agent does (DSSE PAE, Ed25519, a fixed test key) and hands
// the envelope to the collector's verifier, so every input reaches the
// RunResult's parse, the nonce, the suite lookup, the case list, the values,
// the time window (against a fixed clock), the physics check against the
// hardware table and the recomputed score. An accepted result must carry a
// finite, non-negative score.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "agent/sign/envelope.h"
#include "aiscore/v1/result.pb.h"
#include "collector/verify/submission_verifier.h"
#include "tests/fuzz/fuzz_verifier.h"
#include "tests/fuzz/quiet_protobuf.h"

namespace {

bool FiniteNonNegative(double x) { return std::isfinite(x) && x >= 0; }

// What every accepted verdict's recomputed score must satisfy.
bool ScoreIsSane(const aiscore::ScoreReport& s) {
  return FiniteNonNegative(s.score) && FiniteNonNegative(s.prefill) &&
         FiniteNonNegative(s.decode) && FiniteNonNegative(s.latency) &&
         FiniteNonNegative(s.long_context) && FiniteNonNegative(s.speculative) &&
         FiniteNonNegative(s.capacity) && s.capacity <= 1;
}

// Reports a broken invariant and aborts, so that libFuzzer keeps the input.
[[noreturn]] void Fail(const char* what, const aiscore::Verdict& v) {
  std::fprintf(stderr, "run_result_verify_fuzzer: %s (reason %d: %s)\n", what,
               static_cast<int>(v.reason), v.message.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  aiscore::SilenceProtobufLogs();
  (void)aiscore::FuzzVerifier();
  (void)aiscore::FuzzKey();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const aiscore::KeyPair& key = aiscore::FuzzKey();
  aiscore::v1::SignedResult envelope;
  envelope.set_payload_type(std::string(aiscore::kRunResultPayloadType));
  envelope.set_payload(reinterpret_cast<const char*>(data), size);
  envelope.set_public_key(key.public_key());
  envelope.set_signature(key.Sign(aiscore::Pae(envelope.payload_type(), envelope.payload())));
  const aiscore::Verdict verdict = aiscore::FuzzVerifier().Verify(envelope, aiscore::FuzzNow());
  // The signature was made here: a rejection for it would be a bug.
  if (verdict.reason == aiscore::v1::REJECT_REASON_SIGNATURE ||
      verdict.reason == aiscore::v1::REJECT_REASON_PAYLOAD_TYPE) {
    Fail("a result signed here was refused for its signature", verdict);
  }
  if (verdict.accepted) {
    if (!ScoreIsSane(verdict.score)) Fail("an accepted result has an unsound score", verdict);
    for (const auto& [format, score] : verdict.format_scores) {
      if (!ScoreIsSane(score)) Fail("an accepted result has an unsound format score", verdict);
    }
  }
  return 0;
}
