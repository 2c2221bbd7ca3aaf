// Tampering (issue: reliability and security): every byte of signed
// envelopes flipped in turn, each variant rejected by the collector's
// verifier (or unparseable before it); a signature whose S is not canonical
// (S + L, the same curve equation) rejected.
//
// The number of envelopes is AISCORE_TAMPER_ENVELOPES (default 8, a few
// seconds); docs/reliability.md records the run over 1000:
//   AISCORE_TAMPER_ENVELOPES=1000 build/tests/collector/service/aiscore_collector_tamper_test
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <random>
#include <string>

#include "agent/sign/envelope.h"
#include "agent/sign/key_pair.h"
#include "collector/verify/device_limits.h"
#include "collector/verify/submission_verifier.h"
#include "suites/suite_loader.h"
#include "tests/collector/quick_result.h"

namespace aiscore::collector {
namespace {

int EnvelopeCount() {
  const char* text = std::getenv("AISCORE_TAMPER_ENVELOPES");
  return text != nullptr && std::atoi(text) > 0 ? std::atoi(text) : 8;
}

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(verifier_.RegisterBuiltInSuites().ok());
    absl::StatusOr<LoadedSuite> quick = LoadSuite("quick");
    ASSERT_TRUE(quick.ok());
    quick_ = *quick;
  }

  v1::SignedResult Signed(const KeyPair& key) {
    absl::StatusOr<v1::SignedResult> e = SignRunResult(QuickResult(quick_, kQuickResultNow), key);
    EXPECT_TRUE(e.ok()) << e.status();
    return e.ok() ? *e : v1::SignedResult();
  }

  SubmissionVerifier verifier_{CollectorVerifierOptions()};
  LoadedSuite quick_;
};

TEST_F(TamperTest, EveryByteFlippedIsRejected) {
  std::mt19937_64 rng(20261121);
  std::map<std::string, int64_t> outcomes;  // how each variant was refused
  int64_t variants = 0;
  google::protobuf::LogSilencer quiet;  // "invalid UTF-8" for each flip that makes some
  for (int n = 0; n < EnvelopeCount(); ++n) {
    absl::StatusOr<KeyPair> key = KeyPair::Generate();  // a new signer now and then
    ASSERT_TRUE(key.ok());
    const v1::SignedResult intact = Signed(*key);
    ASSERT_TRUE(verifier_.Verify(intact, kQuickResultNow).accepted) << "the untouched envelope";
    const std::string bytes = intact.SerializeAsString();
    for (size_t i = 0; i < bytes.size(); ++i) {
      std::string flipped = bytes;
      // A random non-zero mask: one bit or several, never the same byte back.
      flipped[i] = static_cast<char>(flipped[i] ^ static_cast<char>(1 + rng() % 255));
      ++variants;
      v1::SignedResult parsed;
      if (!parsed.ParseFromString(flipped)) {
        ++outcomes["does not parse"];
        continue;
      }
      const Verdict v = verifier_.Verify(parsed, kQuickResultNow);
      ASSERT_FALSE(v.accepted) << "envelope " << n << " with byte " << i << " of " << bytes.size()
                               << " flipped was accepted";
      ++outcomes[v1::RejectReason_Name(v.reason)];
    }
  }
  std::string summary;
  for (const auto& [outcome, count] : outcomes) {
    summary += "  " + outcome + ": " + std::to_string(count) + "\n";
  }
  std::printf("%d envelopes, %lld variants, all refused:\n%s", EnvelopeCount(),
              static_cast<long long>(variants), summary.c_str());
}

// L, the order of the Ed25519 base point, little-endian.
constexpr unsigned char kGroupOrder[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10};

TEST_F(TamperTest, NonCanonicalSignatureIsRejected) {
  absl::StatusOr<KeyPair> key = KeyPair::Generate();
  ASSERT_TRUE(key.ok());
  v1::SignedResult e = Signed(*key);
  ASSERT_EQ(e.signature().size(), 64u);
  // S' = S + L satisfies the verification equation as S does, but is not the
  // canonical encoding (S' >= L): a malleated signature that must not count.
  std::string sig = e.signature();
  unsigned carry = 0;
  for (int i = 0; i < 32; ++i) {
    const unsigned sum = static_cast<unsigned char>(sig[32 + i]) + kGroupOrder[i] + carry;
    sig[32 + i] = static_cast<char>(sum & 0xff);
    carry = sum >> 8;
  }
  ASSERT_EQ(carry, 0u);  // S < L < 2^253, so S + L fits in 256 bits
  e.set_signature(sig);
  const Verdict v = verifier_.Verify(e, kQuickResultNow);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_SIGNATURE) << v.message;

  // A small-order public key (the identity point) with any signature.
  v1::SignedResult weak = Signed(*key);
  std::string identity(32, '\0');
  identity[0] = 1;
  weak.set_public_key(identity);
  EXPECT_EQ(verifier_.Verify(weak, kQuickResultNow).reason, v1::REJECT_REASON_SIGNATURE);
}

}  // namespace
}  // namespace aiscore::collector
