// The signed envelope a RunResult travels in (DSSE, the Dead Simple Signing
// Envelope): the payload holds the RunResult's bytes exactly as they were
// signed, and the signature covers PAE(payload_type, payload). Verification
// works on those bytes and never re-serializes. docs/envelope.md describes
// the format byte for byte.
//
// The functions are stateless and thread-safe.
#ifndef AISCORE_AGENT_SIGN_ENVELOPE_H_
#define AISCORE_AGENT_SIGN_ENVELOPE_H_

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "agent/sign/key_pair.h"
#include "aiscore/v1/result.pb.h"

namespace aiscore {

// The payload type of a serialized aiscore.v1.RunResult.
inline constexpr std::string_view kRunResultPayloadType =
    "application/vnd.aiscore.run-result.v1+protobuf";

// DSSE's pre-authentication encoding, the bytes that are signed:
//   "DSSEv1" SP len(type) SP type SP len(payload) SP payload
// with SP one space (0x20) and each length the byte count in ASCII decimal,
// no leading zeros.
std::string Pae(std::string_view type, std::string_view payload);

// Serializes `result` once (deterministic protobuf serialization) and signs
// it with `key`. Internal error if the result cannot be serialized.
absl::StatusOr<aiscore::v1::SignedResult> SignRunResult(const aiscore::v1::RunResult& result,
                                                        const KeyPair& key);

// Checks the envelope and returns the RunResult it carries, parsed from the
// exact payload bytes that were signed. The error codes tell the failures
// apart (the collector maps them to its reject reasons):
//   InvalidArgument  payload_type is not kRunResultPayloadType
//   Unauthenticated  public key not 32 bytes, signature not 64 bytes, or the
//                    signature does not verify
//   DataLoss         the signed payload is not a RunResult
// The signature proves who signed, not that the figures are plausible.
absl::StatusOr<aiscore::v1::RunResult> VerifyEnvelope(const aiscore::v1::SignedResult& envelope);

}  // namespace aiscore

#endif  // AISCORE_AGENT_SIGN_ENVELOPE_H_
