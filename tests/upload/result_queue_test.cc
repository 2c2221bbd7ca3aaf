// ResultQueue: files are named by time and nonce, listed oldest first, removed
// only when asked and only inside the queue, and moved to rejected/ with the
// reason beside them.
#include "agent/upload/result_queue.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>

#include "absl/strings/escaping.h"
#include "agent/sign/envelope.h"
#include "agent/sign/envelope_file.h"
#include "google/protobuf/util/message_differencer.h"
#include "tests/read_file_bytes.h"
#include "tests/sign/test_run_result.h"
#include "tests/temp_dir.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

unsigned Mode(const fs::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

class ResultQueueTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<KeyPair> key = KeyPair::Generate();
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<KeyPair>(*key);
  }

  aiscore::v1::SignedResult NewEnvelope(aiscore::v1::RunResult* result = nullptr) {
    aiscore::v1::RunResult r = TestRunResult();
    if (result != nullptr) *result = r;
    absl::StatusOr<aiscore::v1::SignedResult> e = SignRunResult(r, *key_);
    EXPECT_TRUE(e.ok());
    return *e;
  }

  TempDir dir_;
  std::unique_ptr<KeyPair> key_;
};

TEST_F(ResultQueueTest, EnqueueListsOldestFirstAndRemoves) {
  absl::StatusOr<ResultQueue> queue = ResultQueue::Open(dir_.path() / "queue");
  ASSERT_TRUE(queue.ok()) << queue.status();
  EXPECT_EQ(Mode(dir_.path() / "queue"), 0700u);
  EXPECT_EQ(Mode(dir_.path() / "queue" / "rejected"), 0700u);
  ASSERT_TRUE(queue->Pending().ok());
  EXPECT_TRUE(queue->Pending()->empty());

  std::vector<fs::path> queued;
  std::vector<aiscore::v1::SignedResult> envelopes;
  for (int i = 0; i < 5; ++i) {
    aiscore::v1::RunResult result;
    envelopes.push_back(NewEnvelope(&result));
    absl::StatusOr<fs::path> path = queue->Enqueue(envelopes.back());
    ASSERT_TRUE(path.ok()) << path.status();
    queued.push_back(*path);
    const std::string name = path->filename().string();
    EXPECT_TRUE(std::regex_match(name, std::regex(R"(\d{8}T\d{6}\.\d{6}Z-[0-9a-f]{16}\.signed)")))
        << name;
    EXPECT_NE(name.find(absl::BytesToHexString(result.nonce().substr(0, 8))), std::string::npos)
        << name;
    EXPECT_EQ(path->parent_path(), queue->dir());
    EXPECT_EQ(Mode(*path), 0600u);
    EXPECT_TRUE(queue->Contains(*path));
    absl::StatusOr<aiscore::v1::SignedResult> read = ReadEnvelopeFile(*path);
    ASSERT_TRUE(read.ok());
    EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(*read, envelopes.back()));
  }
  absl::StatusOr<std::vector<fs::path>> pending = queue->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, queued);  // oldest first

  ASSERT_TRUE(queue->Remove(queued[1]).ok());
  EXPECT_FALSE(fs::exists(queued[1]));
  pending = queue->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, (std::vector<fs::path>{queued[0], queued[2], queued[3], queued[4]}));

  // The same envelope queued twice gets two files.
  absl::StatusOr<fs::path> a = queue->Enqueue(envelopes[0]);
  absl::StatusOr<fs::path> b = queue->Enqueue(envelopes[0]);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(queue->Pending()->size(), 6u);
}

TEST_F(ResultQueueTest, NeverRemovesOrMovesFilesOutsideTheQueue) {
  absl::StatusOr<ResultQueue> queue = ResultQueue::Open(dir_.path() / "queue");
  ASSERT_TRUE(queue.ok());
  const fs::path outside = dir_.path() / "mine.signed";
  ASSERT_TRUE(WriteEnvelopeFile(outside, NewEnvelope()).ok());
  EXPECT_FALSE(queue->Contains(outside));
  EXPECT_TRUE(absl::IsFailedPrecondition(queue->Remove(outside)));
  EXPECT_TRUE(absl::IsFailedPrecondition(queue->MoveToRejected(outside, "no").status()));
  // Nor through a path that only looks like it is in the queue.
  EXPECT_FALSE(queue->Contains(dir_.path() / "queue" / ".." / "mine.signed"));
  EXPECT_TRUE(
      absl::IsFailedPrecondition(queue->Remove(dir_.path() / "queue" / ".." / "mine.signed")));
  EXPECT_TRUE(fs::exists(outside));
}

TEST_F(ResultQueueTest, MoveToRejectedKeepsTheFileWithItsReason) {
  absl::StatusOr<ResultQueue> queue = ResultQueue::Open(dir_.path() / "queue");
  ASSERT_TRUE(queue.ok());
  const aiscore::v1::SignedResult envelope = NewEnvelope();
  absl::StatusOr<fs::path> path = queue->Enqueue(envelope);
  ASSERT_TRUE(path.ok());
  const std::string bytes = ReadFileBytes(*path);
  absl::StatusOr<fs::path> moved =
      queue->MoveToRejected(*path, "REJECT_REASON_IMPLAUSIBLE: too fast");
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_EQ(*moved, queue->rejected_dir() / path->filename());
  EXPECT_FALSE(fs::exists(*path));
  EXPECT_EQ(ReadFileBytes(*moved), bytes);  // unchanged
  EXPECT_EQ(ReadFileBytes(moved->string() + ".reason"), "REJECT_REASON_IMPLAUSIBLE: too fast\n");
  EXPECT_EQ(Mode(moved->string() + ".reason"), 0600u);
  EXPECT_TRUE(queue->Pending()->empty());
}

TEST_F(ResultQueueTest, PendingIgnoresTemporaryAndOtherFiles) {
  absl::StatusOr<ResultQueue> queue = ResultQueue::Open(dir_.path() / "queue");
  ASSERT_TRUE(queue.ok());
  absl::StatusOr<fs::path> path = queue->Enqueue(NewEnvelope());
  ASSERT_TRUE(path.ok());
  std::ofstream(queue->dir() / ".20250101T000000.000000Z-00.signed.tmp-1-2") << "partial";
  std::ofstream(queue->dir() / ".hidden.signed") << "x";
  std::ofstream(queue->dir() / "notes.txt") << "x";
  fs::create_directories(queue->dir() / "dir.signed");
  absl::StatusOr<std::vector<fs::path>> pending = queue->Pending();
  ASSERT_TRUE(pending.ok());
  EXPECT_EQ(*pending, std::vector<fs::path>{*path});
}

TEST_F(ResultQueueTest, ReopeningFindsWhatWasQueued) {
  fs::path queued;
  {
    absl::StatusOr<ResultQueue> queue = ResultQueue::Open(dir_.path() / "queue");
    ASSERT_TRUE(queue.ok());
    absl::StatusOr<fs::path> path = queue->Enqueue(NewEnvelope());
    ASSERT_TRUE(path.ok());
    queued = *path;
  }
  absl::StatusOr<ResultQueue> queue = ResultQueue::Open(dir_.path() / "queue");
  ASSERT_TRUE(queue.ok());
  EXPECT_EQ(*queue->Pending(), std::vector<fs::path>{queued});
}

}  // namespace
}  // namespace aiscore
