// KeyPair: RFC 8032 test vector, the fingerprint, and the key file: created
// private (0600) once and reloaded as the same key; a file others may read,
// or a damaged one, is refused with a message naming it and left untouched.
#include "agent/sign/key_pair.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/str_replace.h"
#include "tests/read_file_bytes.h"
#include "tests/temp_dir.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

std::string Unhex(const std::string& hex) { return absl::HexStringToBytes(hex); }
std::string ToHex(const std::string& bytes) { return absl::BytesToHexString(bytes); }

void WriteAll(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary | std::ios::trunc) << s;
}

unsigned Mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class KeyPairTest : public ::testing::Test {
 protected:
  TempDir dir_;
};

// RFC 8032, section 7.1, TEST 1: the empty message.
TEST_F(KeyPairTest, MatchesRfc8032TestVector) {
  absl::StatusOr<KeyPair> key =
      KeyPair::FromSeed(Unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(ToHex(key->public_key()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(ToHex(key->Sign("")),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e"
            "39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  // SHA-256 of that public key starts 21fe31df... (computed with Python's hashlib).
  EXPECT_EQ(key->Fingerprint(), "SHA256:21fe31dfa154a261626bf854046fd227");
  EXPECT_EQ(KeyFingerprint(key->public_key()), key->Fingerprint());
  EXPECT_FALSE(KeyPair::FromSeed("short").ok());
}

TEST_F(KeyPairTest, SignatureVerifiesWithLibsodium) {
  absl::StatusOr<KeyPair> key = KeyPair::Generate();
  ASSERT_TRUE(key.ok()) << key.status();
  const std::string message = "a message";
  const std::string sig = key->Sign(message);
  ASSERT_EQ(sig.size(), kSignatureBytes);
  ASSERT_EQ(key->public_key().size(), kPublicKeyBytes);
  auto verify = [&](const std::string& m) {
    return crypto_sign_verify_detached(
               reinterpret_cast<const unsigned char*>(sig.data()),
               reinterpret_cast<const unsigned char*>(m.data()), m.size(),
               reinterpret_cast<const unsigned char*>(key->public_key().data())) == 0;
  };
  EXPECT_TRUE(verify(message));
  EXPECT_FALSE(verify("a messagf"));
  // Two generated keys differ.
  absl::StatusOr<KeyPair> other = KeyPair::Generate();
  ASSERT_TRUE(other.ok());
  EXPECT_NE(other->public_key(), key->public_key());
}

TEST_F(KeyPairTest, CreatesAPrivateKeyFileOnceAndReloadsTheSameKey) {
  const fs::path path = dir_.path() / "config" / "aiscore" / "key";
  bool created = false;
  absl::StatusOr<KeyPair> first = KeyPair::LoadOrCreate(path, &created);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(created);
  EXPECT_EQ(Mode(path), 0600u);
  EXPECT_EQ(Mode(path.parent_path()), 0700u);
  const std::string text = ReadFileBytes(path);
  EXPECT_EQ(text.rfind("aiscore-ed25519-key-v1\nseed ", 0), 0u) << text;
  EXPECT_NE(text.find("\npublic " + ToHex(first->public_key()) + "\n"), std::string::npos);
  // No temporary file is left beside it.
  EXPECT_EQ(std::distance(fs::directory_iterator(path.parent_path()), fs::directory_iterator()), 1);

  absl::StatusOr<KeyPair> second = KeyPair::LoadOrCreate(path, &created);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(created);
  EXPECT_EQ(second->public_key(), first->public_key());
  EXPECT_EQ(second->Fingerprint(), first->Fingerprint());
  EXPECT_EQ(second->Sign("x"), first->Sign("x"));  // Ed25519 signing is deterministic
  EXPECT_EQ(ReadFileBytes(path), text);

  absl::StatusOr<KeyPair> loaded = KeyPair::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->public_key(), first->public_key());

  // Save refuses to replace an existing key.
  EXPECT_TRUE(absl::IsAlreadyExists(second->Save(path)));
}

TEST_F(KeyPairTest, RefusesAKeyFileOthersMayRead) {
  const fs::path path = dir_.path() / "key";
  ASSERT_TRUE(KeyPair::LoadOrCreate(path).ok());
  const std::string text = ReadFileBytes(path);
  for (unsigned mode : {0644u, 0640u, 0604u, 0660u, 0602u, 0666u}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    absl::StatusOr<KeyPair> key = KeyPair::LoadOrCreate(path);
    ASSERT_FALSE(key.ok()) << std::oct << mode;
    const std::string message(key.status().message());
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    char octal[8];
    std::snprintf(octal, sizeof(octal), "%04o", mode);
    EXPECT_NE(message.find(octal), std::string::npos) << message;
    EXPECT_NE(message.find("chmod 600"), std::string::npos) << message;
    EXPECT_EQ(ReadFileBytes(path), text) << "the refused file must be left alone";
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);  // stricter than 0600 is fine
  EXPECT_TRUE(KeyPair::Load(path).ok());
}

TEST_F(KeyPairTest, RefusesATruncatedOrDamagedKeyFile) {
  const fs::path good = dir_.path() / "good";
  ASSERT_TRUE(KeyPair::LoadOrCreate(good).ok());
  const std::string text = ReadFileBytes(good);
  const fs::path path = dir_.path() / "key";

  std::vector<std::string> bad;
  // Every truncation, except dropping only the final newline.
  for (size_t keep = 0; keep + 1 < text.size(); ++keep) bad.push_back(text.substr(0, keep));
  bad.push_back("not a key\n");
  bad.push_back(absl::StrReplaceAll(text, {{"aiscore-ed25519-key-v1", "aiscore-ed25519-key-v2"}}));
  bad.push_back(text + "extra line\n");
  std::string upper = text;  // hex must be lower case
  for (size_t i = upper.find("seed ") + 5; i < upper.find('\n', upper.find("seed ")); ++i) {
    upper[i] = static_cast<char>(std::toupper(upper[i]));
  }
  if (upper != text) bad.push_back(upper);
  std::string other_seed = text;  // one digit of the seed changed: no longer matches "public"
  const size_t digit = other_seed.find("seed ") + 5;
  other_seed[digit] = other_seed[digit] == '0' ? '1' : '0';
  bad.push_back(other_seed);

  for (const std::string& contents : bad) {
    WriteAll(path, contents);
    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
    bool created = true;
    absl::StatusOr<KeyPair> key = KeyPair::LoadOrCreate(path, &created);
    ASSERT_FALSE(key.ok()) << "accepted: " << contents;
    EXPECT_FALSE(created);
    const std::string message(key.status().message());
    EXPECT_NE(message.find(path.string()), std::string::npos) << message;
    EXPECT_NE(message.find("malformed"), std::string::npos) << message;
    EXPECT_EQ(ReadFileBytes(path), contents) << "a damaged key must not be overwritten";
  }
  WriteAll(path, other_seed);
  EXPECT_NE(std::string(KeyPair::Load(path).status().message()).find("does not belong"),
            std::string::npos);
  // Dropping only the final newline still reads as the same key.
  WriteAll(path, text.substr(0, text.size() - 1));
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  EXPECT_TRUE(KeyPair::Load(path).ok());
}

TEST_F(KeyPairTest, RefusesADirectoryAndReportsAMissingFile) {
  fs::create_directories(dir_.path() / "dir");
  ASSERT_EQ(::chmod((dir_.path() / "dir").c_str(), 0700), 0);
  absl::StatusOr<KeyPair> key = KeyPair::LoadOrCreate(dir_.path() / "dir");
  ASSERT_FALSE(key.ok());
  EXPECT_NE(std::string(key.status().message()).find("not a regular file"), std::string::npos);
  key = KeyPair::Load(dir_.path() / "missing");
  ASSERT_FALSE(key.ok());
  EXPECT_TRUE(absl::IsNotFound(key.status())) << key.status();
  EXPECT_NE(std::string(key.status().message()).find("missing"), std::string::npos);
}

}  // namespace
}  // namespace aiscore
