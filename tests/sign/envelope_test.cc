// The signed envelope: PAE byte for byte against the DSSE spec's example,
// sign/verify round trip, and that changing any bit of the envelope (in its
// serialized form, or of any one field) makes verification fail.
#include "agent/sign/envelope.h"

#include <google/protobuf/stubs/logging.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <string>

#include "tests/sign/test_run_result.h"

namespace aiscore {
namespace {

using google::protobuf::util::MessageDifferencer;

KeyPair TestKey() {
  absl::StatusOr<KeyPair> key = KeyPair::FromSeed(std::string(32, '\x07'));
  EXPECT_TRUE(key.ok());
  return *key;
}

// DSSE protocol.md, "Pre-Authentication Encoding" example, written out by hand.
TEST(EnvelopeTest, PaeMatchesTheDsseSpecExample) {
  EXPECT_EQ(Pae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
  EXPECT_EQ(Pae("", ""), "DSSEv1 0  0 ");
  // Lengths count bytes, the payload is binary and is copied verbatim.
  const std::string binary("\x00\xff\x20\x0a", 4);
  EXPECT_EQ(Pae(kRunResultPayloadType, binary),
            std::string("DSSEv1 46 application/vnd.aiscore.run-result.v1+protobuf 4 ") + binary);
  EXPECT_EQ(kRunResultPayloadType.size(), 46u);
  EXPECT_EQ(Pae("t", std::string(1000, 'x')), "DSSEv1 1 t 1000 " + std::string(1000, 'x'));
  // docs/envelope.md's example: a RunResult with only suite.name "v1".
  aiscore::v1::RunResult tiny;
  tiny.mutable_suite()->set_name("v1");
  const std::string tiny_bytes = tiny.SerializeAsString();
  EXPECT_EQ(tiny_bytes, std::string("\x0a\x04\x0a\x02\x76\x31", 6));
  EXPECT_EQ(Pae(kRunResultPayloadType, tiny_bytes),
            "DSSEv1 46 application/vnd.aiscore.run-result.v1+protobuf 6 " + tiny_bytes);
}

TEST(EnvelopeTest, SignAndVerifyRoundTrip) {
  const KeyPair key = TestKey();
  const aiscore::v1::RunResult result = TestRunResult();
  absl::StatusOr<aiscore::v1::SignedResult> envelope = SignRunResult(result, key);
  ASSERT_TRUE(envelope.ok()) << envelope.status();
  EXPECT_EQ(envelope->payload_type(), kRunResultPayloadType);
  EXPECT_EQ(envelope->public_key(), key.public_key());
  EXPECT_EQ(envelope->signature().size(), 64u);
  EXPECT_EQ(envelope->payload(), result.SerializeAsString());

  // The signature is over PAE(type, payload), checked here with libsodium alone.
  const std::string pae = Pae(envelope->payload_type(), envelope->payload());
  EXPECT_EQ(crypto_sign_verify_detached(
                reinterpret_cast<const unsigned char*>(envelope->signature().data()),
                reinterpret_cast<const unsigned char*>(pae.data()), pae.size(),
                reinterpret_cast<const unsigned char*>(envelope->public_key().data())),
            0);

  absl::StatusOr<aiscore::v1::RunResult> verified = VerifyEnvelope(*envelope);
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*verified, result));

  // Signing is deterministic: the same result gives the same bytes.
  absl::StatusOr<aiscore::v1::SignedResult> again = SignRunResult(result, key);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->SerializeAsString(), envelope->SerializeAsString());
}

TEST(EnvelopeTest, FlippingAnyBitOfTheSerializedEnvelopeFailsVerification) {
  absl::StatusOr<aiscore::v1::SignedResult> envelope = SignRunResult(TestRunResult(), TestKey());
  ASSERT_TRUE(envelope.ok());
  const std::string bytes = envelope->SerializeAsString();
  ASSERT_GT(bytes.size(), 200u);
  google::protobuf::LogSilencer quiet;  // flips in payload_type make it invalid UTF-8
  int unparsable = 0, refused = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string flipped = bytes;
      flipped[i] = static_cast<char>(flipped[i] ^ (1 << bit));
      aiscore::v1::SignedResult changed;
      if (!changed.ParseFromString(flipped)) {
        ++unparsable;
        continue;
      }
      EXPECT_FALSE(VerifyEnvelope(changed).ok()) << "byte " << i << " bit " << bit;
      ++refused;
    }
  }
  EXPECT_EQ(unparsable + refused, static_cast<int>(bytes.size() * 8));
  EXPECT_GT(refused, static_cast<int>(bytes.size() * 8 * 9 / 10));  // most flips still parse
}

TEST(EnvelopeTest, FlippingAnyBitOfAnyFieldFailsVerification) {
  absl::StatusOr<aiscore::v1::SignedResult> envelope = SignRunResult(TestRunResult(), TestKey());
  ASSERT_TRUE(envelope.ok());
  using Field = std::string* (aiscore::v1::SignedResult::*)();
  const struct {
    const char* name;
    Field field;
    absl::StatusCode code;
  } fields[] = {
      {"payload_type", &aiscore::v1::SignedResult::mutable_payload_type,
       absl::StatusCode::kInvalidArgument},
      {"payload", &aiscore::v1::SignedResult::mutable_payload, absl::StatusCode::kUnauthenticated},
      {"public_key", &aiscore::v1::SignedResult::mutable_public_key,
       absl::StatusCode::kUnauthenticated},
      {"signature", &aiscore::v1::SignedResult::mutable_signature,
       absl::StatusCode::kUnauthenticated},
  };
  for (const auto& f : fields) {
    const size_t n = ((*envelope).*(f.field))()->size();
    ASSERT_GT(n, 0u) << f.name;
    for (size_t i = 0; i < n; ++i) {
      for (int bit = 0; bit < 8; ++bit) {
        aiscore::v1::SignedResult changed = *envelope;
        std::string& bytes = *(changed.*(f.field))();
        bytes[i] = static_cast<char>(bytes[i] ^ (1 << bit));
        absl::StatusOr<aiscore::v1::RunResult> r = VerifyEnvelope(changed);
        ASSERT_FALSE(r.ok()) << f.name << " byte " << i << " bit " << bit;
        EXPECT_EQ(r.status().code(), f.code) << f.name << ": " << r.status();
      }
    }
  }
}

TEST(EnvelopeTest, WrongPayloadTypeFailsEvenWhenSignedCorrectly) {
  const KeyPair key = TestKey();
  absl::StatusOr<aiscore::v1::SignedResult> envelope = SignRunResult(TestRunResult(), key);
  ASSERT_TRUE(envelope.ok());
  for (const char* type : {"application/json", "application/vnd.aiscore.run-result.v2+protobuf", "",
                           "application/vnd.aiscore.run-result.v1+protobuf "}) {
    aiscore::v1::SignedResult changed = *envelope;
    changed.set_payload_type(type);
    changed.set_signature(key.Sign(Pae(type, changed.payload())));  // a valid signature
    absl::StatusOr<aiscore::v1::RunResult> r = VerifyEnvelope(changed);
    ASSERT_FALSE(r.ok()) << type;
    EXPECT_TRUE(absl::IsInvalidArgument(r.status())) << r.status();
    EXPECT_NE(std::string(r.status().message()).find("payload type"), std::string::npos);
  }
}

TEST(EnvelopeTest, EachFailureHasItsOwnMessage) {
  const KeyPair key = TestKey();
  absl::StatusOr<aiscore::v1::SignedResult> envelope = SignRunResult(TestRunResult(), key);
  ASSERT_TRUE(envelope.ok());

  aiscore::v1::SignedResult short_key = *envelope;
  short_key.mutable_public_key()->pop_back();
  absl::Status s = VerifyEnvelope(short_key).status();
  EXPECT_TRUE(absl::IsUnauthenticated(s));
  EXPECT_NE(std::string(s.message()).find("public key is 31 bytes"), std::string::npos) << s;

  aiscore::v1::SignedResult long_signature = *envelope;
  long_signature.mutable_signature()->push_back('\0');
  s = VerifyEnvelope(long_signature).status();
  EXPECT_TRUE(absl::IsUnauthenticated(s));
  EXPECT_NE(std::string(s.message()).find("signature is 65 bytes"), std::string::npos) << s;

  aiscore::v1::SignedResult other_key = *envelope;
  absl::StatusOr<KeyPair> stranger = KeyPair::Generate();
  ASSERT_TRUE(stranger.ok());
  other_key.set_public_key(stranger->public_key());
  s = VerifyEnvelope(other_key).status();
  EXPECT_TRUE(absl::IsUnauthenticated(s));
  EXPECT_NE(std::string(s.message()).find("does not match"), std::string::npos) << s;

  // A correctly signed payload that is not a RunResult.
  aiscore::v1::SignedResult garbage = *envelope;
  garbage.set_payload(std::string("\xff\xff\xff\xff", 4));
  garbage.set_signature(key.Sign(Pae(kRunResultPayloadType, garbage.payload())));
  s = VerifyEnvelope(garbage).status();
  EXPECT_TRUE(absl::IsDataLoss(s)) << s;
  EXPECT_NE(std::string(s.message()).find("not a serialized aiscore.v1.RunResult"),
            std::string::npos);
}

// The signed bytes are verified as they are: a payload that protobuf would
// serialize differently (fields out of order here) still verifies, and the
// RunResult comes from those bytes.
TEST(EnvelopeTest, VerifiesThePayloadBytesAsSignedWithoutReserializing) {
  const KeyPair key = TestKey();
  aiscore::v1::RunResult nonce_only;
  nonce_only.set_nonce(std::string(16, 'n'));
  aiscore::v1::RunResult suite_only;
  suite_only.mutable_suite()->set_name("v1");
  // Field 2 (nonce) before field 1 (suite): valid protobuf, not canonical.
  const std::string payload = nonce_only.SerializeAsString() + suite_only.SerializeAsString();
  aiscore::v1::SignedResult envelope;
  envelope.set_payload_type(std::string(kRunResultPayloadType));
  envelope.set_payload(payload);
  envelope.set_public_key(key.public_key());
  envelope.set_signature(key.Sign(Pae(kRunResultPayloadType, payload)));

  absl::StatusOr<aiscore::v1::RunResult> r = VerifyEnvelope(envelope);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->suite().name(), "v1");
  EXPECT_EQ(r->nonce(), std::string(16, 'n'));
  EXPECT_NE(r->SerializeAsString(), payload);  // re-serializing would have broken the signature
}

}  // namespace
}  // namespace aiscore
