// libFuzzer target: the collector's whole verification of a submission, from
// the bytes of a serialized aiscore.v1.SignedResult (what a Submit call or an
// envelope file carries): envelope parse, payload type, key and signature
// sizes, the Ed25519 signature over DSSE's PAE, then (for the rare input that
// still verifies, and for the seeds) the RunResult's parse, suite, cases,
// values, time window, physics and the recomputed score.
//
// Mutated inputs almost never keep a valid signature, so this target mostly
// covers the envelope; run_result_verify_fuzzer signs its inputs to reach the
// checks behind the signature.
#include <cstddef>
#include <cstdint>

#include "aiscore/v1/result.pb.h"
#include "collector/verify/submission_verifier.h"
#include "tests/fuzz/fuzz_verifier.h"
#include "tests/fuzz/quiet_protobuf.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  aiscore::SilenceProtobufLogs();
  (void)aiscore::FuzzVerifier();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  aiscore::v1::SignedResult envelope;
  if (!envelope.ParseFromArray(data, static_cast<int>(size))) return 0;
  const aiscore::Verdict verdict = aiscore::FuzzVerifier().Verify(envelope, aiscore::FuzzNow());
  (void)verdict;
  return 0;
}
