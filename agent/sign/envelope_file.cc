#include "agent/sign/envelope_file.h"

#include <google/protobuf/stubs/logging.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "agent/sign/atomic_file.h"
#include "agent/sign/key_pair.h"

namespace aiscore {

absl::Status WriteEnvelopeFile(const std::filesystem::path& path,
                               const aiscore::v1::SignedResult& envelope) {
  std::string bytes;
  if (!envelope.SerializeToString(&bytes)) {
    return absl::InternalError(absl::StrCat("cannot serialize the envelope for ", path.string()));
  }
  return WriteFileAtomically(path, bytes, 0600);
}

absl::StatusOr<aiscore::v1::SignedResult> ReadEnvelopeFile(const std::filesystem::path& path) {
  absl::StatusOr<std::string> bytes = ReadSmallFile(path, kMaxEnvelopeFileBytes);
  if (!bytes.ok()) return bytes.status();
  auto corrupt = [&](std::string_view what) {
    return absl::DataLossError(absl::StrCat(path.string(),
                                            " is not an aiscore signed result (truncated or "
                                            "corrupt?): ",
                                            std::string(what)));
  };
  if (bytes->empty()) return corrupt("the file is empty");
  aiscore::v1::SignedResult envelope;
  bool parsed = false;
  {
    google::protobuf::LogSilencer quiet;  // the error returned says it; no log line on stderr
    parsed = envelope.ParseFromString(*bytes);
  }
  if (!parsed) return corrupt("it does not parse as a SignedResult");
  if (envelope.payload_type().empty()) return corrupt("no payload type");
  if (envelope.payload().empty()) return corrupt("no payload");
  if (envelope.public_key().size() != kPublicKeyBytes) {
    return corrupt(absl::StrCat("public key of ", envelope.public_key().size(), " bytes, not ",
                                kPublicKeyBytes));
  }
  if (envelope.signature().size() != kSignatureBytes) {
    return corrupt(absl::StrCat("signature of ", envelope.signature().size(), " bytes, not ",
                                kSignatureBytes));
  }
  return envelope;
}

}  // namespace aiscore
