// A signed result on disk: one file holding one serialized
// aiscore.v1.SignedResult (binary protobuf, nothing before or after), as
// written to the result queue and to saved runs. docs/envelope.md describes it.
//
// Writing is atomic (agent/sign/atomic_file.h): a reader never sees half a
// file. Reading checks the envelope's shape, not its signature; call
// VerifyEnvelope (agent/sign/envelope.h) for that.
#ifndef AISCORE_AGENT_SIGN_ENVELOPE_FILE_H_
#define AISCORE_AGENT_SIGN_ENVELOPE_FILE_H_

#include <cstdint>
#include <filesystem>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aiscore/v1/result.pb.h"

namespace aiscore {

// The largest envelope file read, bytes; a RunResult is a few kilobytes.
inline constexpr int64_t kMaxEnvelopeFileBytes = 16 << 20;

// Writes `envelope` to `path` (mode 0600), replacing any file there.
absl::Status WriteEnvelopeFile(const std::filesystem::path& path,
                               const aiscore::v1::SignedResult& envelope);

// Reads an envelope file. NotFound / PermissionDenied when it cannot be read;
// DataLoss, naming the file, when it is empty, truncated or not a signed
// result (not a SignedResult, no payload type, payload, 32-byte key and
// 64-byte signature).
absl::StatusOr<aiscore::v1::SignedResult> ReadEnvelopeFile(const std::filesystem::path& path);

}  // namespace aiscore

#endif  // AISCORE_AGENT_SIGN_ENVELOPE_FILE_H_
