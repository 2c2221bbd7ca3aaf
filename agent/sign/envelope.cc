#include "agent/sign/envelope.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <sodium.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "agent/sign/sodium.h"

namespace aiscore {
namespace {

// Deterministic serialization: the same message gives the same bytes in this
// build (field order, no map reordering).
absl::StatusOr<std::string> SerializeDeterministically(const aiscore::v1::RunResult& result) {
  std::string bytes;
  bool ok = false;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    ok = result.SerializeToCodedStream(&coded) && !coded.HadError();
  }  // the streams flush and trim `bytes` here
  if (!ok) return absl::InternalError("cannot serialize the run result");
  return bytes;
}

}  // namespace

std::string Pae(std::string_view type, std::string_view payload) {
  return absl::StrCat("DSSEv1 ", type.size(), " ", absl::string_view(type.data(), type.size()), " ",
                      payload.size(), " ", absl::string_view(payload.data(), payload.size()));
}

absl::StatusOr<aiscore::v1::SignedResult> SignRunResult(const aiscore::v1::RunResult& result,
                                                        const KeyPair& key) {
  absl::StatusOr<std::string> payload = SerializeDeterministically(result);
  if (!payload.ok()) return payload.status();
  aiscore::v1::SignedResult envelope;
  envelope.set_payload_type(std::string(kRunResultPayloadType));
  envelope.set_signature(key.Sign(Pae(kRunResultPayloadType, *payload)));
  envelope.set_public_key(key.public_key());
  envelope.set_payload(std::move(*payload));
  return envelope;
}

absl::StatusOr<aiscore::v1::RunResult> VerifyEnvelope(const aiscore::v1::SignedResult& envelope) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  if (envelope.payload_type() != kRunResultPayloadType) {
    return absl::InvalidArgumentError(absl::StrCat("payload type \"", envelope.payload_type(),
                                                   "\" is not \"",
                                                   std::string(kRunResultPayloadType), "\""));
  }
  if (envelope.public_key().size() != kPublicKeyBytes) {
    return absl::UnauthenticatedError(absl::StrCat("public key is ", envelope.public_key().size(),
                                                   " bytes; an Ed25519 key is ", kPublicKeyBytes));
  }
  if (envelope.signature().size() != kSignatureBytes) {
    return absl::UnauthenticatedError(absl::StrCat("signature is ", envelope.signature().size(),
                                                   " bytes; an Ed25519 signature is ",
                                                   kSignatureBytes));
  }
  const std::string pae = Pae(envelope.payload_type(), envelope.payload());
  if (crypto_sign_verify_detached(
          reinterpret_cast<const unsigned char*>(envelope.signature().data()),
          reinterpret_cast<const unsigned char*>(pae.data()), pae.size(),
          reinterpret_cast<const unsigned char*>(envelope.public_key().data())) != 0) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the signature does not match the payload and public key ",
        KeyFingerprint(envelope.public_key()), "; the result was changed after it was signed"));
  }
  aiscore::v1::RunResult result;
  if (!result.ParseFromString(envelope.payload())) {
    return absl::DataLossError("the signed payload is not a serialized aiscore.v1.RunResult");
  }
  return result;
}

}  // namespace aiscore
