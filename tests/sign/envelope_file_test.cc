// Envelope files: written atomically with mode 0600 and read back equal;
// missing, empty, truncated (every length) and garbage files give a clear
// error that names the file.
#include "agent/sign/envelope_file.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "agent/sign/envelope.h"
#include "tests/sign/test_run_result.h"
#include "tests/temp_dir.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

class EnvelopeFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<KeyPair> key = KeyPair::Generate();
    ASSERT_TRUE(key.ok());
    absl::StatusOr<aiscore::v1::SignedResult> envelope = SignRunResult(TestRunResult(), *key);
    ASSERT_TRUE(envelope.ok());
    envelope_ = *envelope;
  }

  void Write(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << bytes;
  }

  TempDir dir_;
  aiscore::v1::SignedResult envelope_;
};

TEST_F(EnvelopeFileTest, WritesAtomicallyAndReadsBackTheSameEnvelope) {
  const fs::path path = dir_.path() / "run.signed";
  ASSERT_TRUE(WriteEnvelopeFile(path, envelope_).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  // Only the file itself: no temporary file left.
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_.path()), fs::directory_iterator()), 1);

  absl::StatusOr<aiscore::v1::SignedResult> read = ReadEnvelopeFile(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*read, envelope_));
  EXPECT_TRUE(VerifyEnvelope(*read).ok());

  // Writing again replaces the file.
  aiscore::v1::SignedResult other = envelope_;
  other.set_payload_type("x");
  ASSERT_TRUE(WriteEnvelopeFile(path, other).ok());
  read = ReadEnvelopeFile(path);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(read->payload_type(), "x");
}

TEST_F(EnvelopeFileTest, MissingFileIsNotFound) {
  absl::StatusOr<aiscore::v1::SignedResult> read = ReadEnvelopeFile(dir_.path() / "missing.signed");
  ASSERT_FALSE(read.ok());
  EXPECT_TRUE(absl::IsNotFound(read.status())) << read.status();
  EXPECT_NE(std::string(read.status().message()).find("missing.signed"), std::string::npos);
}

TEST_F(EnvelopeFileTest, EveryTruncationIsRefused) {
  const std::string bytes = envelope_.SerializeAsString();
  const fs::path path = dir_.path() / "cut.signed";
  for (size_t keep = 0; keep < bytes.size(); ++keep) {
    Write(path, bytes.substr(0, keep));
    absl::StatusOr<aiscore::v1::SignedResult> read = ReadEnvelopeFile(path);
    ASSERT_FALSE(read.ok()) << "kept " << keep << " of " << bytes.size();
    EXPECT_TRUE(absl::IsDataLoss(read.status())) << read.status();
    EXPECT_NE(std::string(read.status().message()).find(path.string()), std::string::npos);
  }
}

TEST_F(EnvelopeFileTest, GarbageIsRefused) {
  std::mt19937 rng(1);
  const fs::path path = dir_.path() / "garbage.signed";
  for (int i = 0; i < 200; ++i) {
    std::string bytes(1 + rng() % 400, '\0');
    for (char& c : bytes) c = static_cast<char>(rng());
    Write(path, bytes);
    absl::StatusOr<aiscore::v1::SignedResult> read = ReadEnvelopeFile(path);
    ASSERT_FALSE(read.ok()) << i;
    EXPECT_TRUE(absl::IsDataLoss(read.status())) << read.status();
  }
  Write(path, "{\"payload\": \"hello\"}\n");
  absl::StatusOr<aiscore::v1::SignedResult> read = ReadEnvelopeFile(path);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(std::string(read.status().message()).find("not an aiscore signed result"),
            std::string::npos)
      << read.status();
  fs::create_directories(dir_.path() / "a_directory.signed");
  EXPECT_FALSE(ReadEnvelopeFile(dir_.path() / "a_directory.signed").ok());
}

}  // namespace
}  // namespace aiscore
