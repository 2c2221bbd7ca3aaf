// SubmitQueued: a file leaves the queue only when acknowledged; a rejected,
// invalid, tampered or damaged file goes to rejected/ with its reason and a
// tampered one is never sent; a failure to reach the collector keeps the
// file queued; a file from outside the queue is copied in first.
#include "agent/upload/submitter.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "agent/sign/envelope.h"
#include "agent/sign/envelope_file.h"
#include "tests/read_file_bytes.h"
#include "tests/sign/test_run_result.h"
#include "tests/temp_dir.h"
#include "tests/upload/fake_collector.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;
using std::chrono::milliseconds;

class SubmitterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<ResultQueue> queue = ResultQueue::Open(dir_.path() / "queue");
    ASSERT_TRUE(queue.ok());
    queue_ = std::make_unique<ResultQueue>(*queue);
    absl::StatusOr<KeyPair> key = KeyPair::Generate();
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<KeyPair>(*key);
    log_ = std::tmpfile();
  }
  void TearDown() override { std::fclose(log_); }

  aiscore::v1::SignedResult NewEnvelope() {
    absl::StatusOr<aiscore::v1::SignedResult> e = SignRunResult(TestRunResult(), *key_);
    EXPECT_TRUE(e.ok());
    return *e;
  }
  fs::path Enqueue(const aiscore::v1::SignedResult& envelope) {
    absl::StatusOr<fs::path> p = queue_->Enqueue(envelope);
    EXPECT_TRUE(p.ok()) << p.status();
    return *p;
  }
  std::unique_ptr<CollectorClient> Client(const std::string& target, int attempts = 3) {
    CollectorOptions o;
    o.deadline = milliseconds(5000);
    o.max_attempts = attempts;
    o.initial_backoff = milliseconds(10);
    o.max_backoff = milliseconds(20);
    absl::StatusOr<std::unique_ptr<CollectorClient>> c = CollectorClient::Create(target, o);
    EXPECT_TRUE(c.ok());
    return std::move(*c);
  }
  std::string Log() {
    std::fflush(log_);
    std::rewind(log_);
    std::string s;
    char buf[4096];
    while (size_t n = std::fread(buf, 1, sizeof(buf), log_)) s.append(buf, n);
    return s;
  }
  std::vector<fs::path> Pending() { return *queue_->Pending(); }
  std::string Reason(const fs::path& queued) {
    return ReadFileBytes(queue_->rejected_dir() / (queued.filename().string() + ".reason"));
  }

  TempDir dir_;
  std::unique_ptr<ResultQueue> queue_;
  std::unique_ptr<KeyPair> key_;
  std::FILE* log_ = nullptr;
};

TEST_F(SubmitterTest, AcknowledgedFilesLeaveTheQueue) {
  FakeCollector server;
  const aiscore::v1::SignedResult first = NewEnvelope();
  const fs::path a = Enqueue(first);
  const fs::path b = Enqueue(NewEnvelope());
  const fs::path again = Enqueue(first);  // the same result queued twice
  std::unique_ptr<CollectorClient> client = Client(server.target());
  const SubmitReport report = SubmitQueued(*client, *queue_, {a, b, again}, log_);
  EXPECT_EQ(report.sent, 2);
  EXPECT_EQ(report.duplicate, 1);
  EXPECT_EQ(report.rejected, 0);
  EXPECT_EQ(report.failed, 0);
  EXPECT_TRUE(report.ok());
  EXPECT_TRUE(Pending().empty());
  EXPECT_EQ(server.stored().size(), 2u);
  const std::string log = Log();
  EXPECT_NE(log.find("id result-1 ACCEPTED, score 1234.5"), std::string::npos) << log;
  EXPECT_NE(log.find("id result-1 DUPLICATE"), std::string::npos) << log;
}

TEST_F(SubmitterTest, RejectedGoesToRejectedWithTheCollectorsReason) {
  FakeCollector server;
  server.RejectEverySubmit(aiscore::v1::REJECT_REASON_IMPLAUSIBLE, "decode faster than memory");
  const fs::path a = Enqueue(NewEnvelope());
  std::unique_ptr<CollectorClient> client = Client(server.target());
  const SubmitReport report = SubmitQueued(*client, *queue_, {a}, log_);
  EXPECT_EQ(report.rejected, 1);
  EXPECT_FALSE(report.ok());
  EXPECT_TRUE(Pending().empty());
  EXPECT_TRUE(fs::exists(queue_->rejected_dir() / a.filename()));
  const std::string reason = Reason(a);
  EXPECT_NE(reason.find("REJECT_REASON_IMPLAUSIBLE: decode faster than memory"), std::string::npos)
      << reason;
  EXPECT_NE(Log().find("REJECT_REASON_IMPLAUSIBLE"), std::string::npos);
}

TEST_F(SubmitterTest, InvalidArgumentIsRejectedWithoutRetrying) {
  FakeCollector server;
  server.FailEverySubmit(grpc::StatusCode::INVALID_ARGUMENT, "envelope has no payload");
  const fs::path a = Enqueue(NewEnvelope());
  std::unique_ptr<CollectorClient> client = Client(server.target(), 5);
  const SubmitReport report = SubmitQueued(*client, *queue_, {a}, log_);
  EXPECT_EQ(report.rejected, 1);
  EXPECT_EQ(server.submit_calls(), 1);
  EXPECT_NE(Reason(a).find("envelope has no payload"), std::string::npos) << Reason(a);
}

TEST_F(SubmitterTest, TamperedFileIsNotSent) {
  FakeCollector server;
  aiscore::v1::SignedResult envelope = NewEnvelope();
  (*envelope.mutable_payload())[10] ^= 1;  // changed after signing
  const fs::path a = Enqueue(envelope);
  std::unique_ptr<CollectorClient> client = Client(server.target());
  const SubmitReport report = SubmitQueued(*client, *queue_, {a}, log_);
  EXPECT_EQ(report.rejected, 1);
  EXPECT_EQ(server.submit_calls(), 0);
  EXPECT_TRUE(Pending().empty());
  EXPECT_TRUE(fs::exists(queue_->rejected_dir() / a.filename()));
  EXPECT_EQ(Reason(a).rfind("local verification failed: ", 0), 0u) << Reason(a);
}

TEST_F(SubmitterTest, DamagedFileIsNotSent) {
  FakeCollector server;
  const fs::path a = Enqueue(NewEnvelope());
  const std::string bytes = ReadFileBytes(a);
  std::ofstream(a, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() / 2);
  std::unique_ptr<CollectorClient> client = Client(server.target());
  const SubmitReport report = SubmitQueued(*client, *queue_, {a}, log_);
  EXPECT_EQ(report.rejected, 1);
  EXPECT_EQ(server.submit_calls(), 0);
  EXPECT_NE(Reason(a).find("unreadable"), std::string::npos) << Reason(a);
}

TEST_F(SubmitterTest, UnreachableCollectorKeepsTheFileQueued) {
  const fs::path a = Enqueue(NewEnvelope());
  std::unique_ptr<CollectorClient> client = Client("127.0.0.1:" + std::to_string(ClosedPort()), 2);
  const SubmitReport report = SubmitQueued(*client, *queue_, {a}, log_);
  EXPECT_EQ(report.failed, 1);
  EXPECT_EQ(Pending(), std::vector<fs::path>{a});
  EXPECT_NE(Log().find("kept in the queue"), std::string::npos) << Log();

  // Other errors than INVALID_ARGUMENT also keep it.
  FakeCollector server;
  server.FailEverySubmit(grpc::StatusCode::RESOURCE_EXHAUSTED, "too large");
  std::unique_ptr<CollectorClient> full = Client(server.target());
  EXPECT_EQ(SubmitQueued(*full, *queue_, {a}, log_).failed, 1);
  EXPECT_EQ(Pending(), std::vector<fs::path>{a});
}

TEST_F(SubmitterTest, FileOutsideTheQueueIsCopiedInFirst) {
  const fs::path mine = dir_.path() / "mine.signed";
  ASSERT_TRUE(WriteEnvelopeFile(mine, NewEnvelope()).ok());
  {
    std::unique_ptr<CollectorClient> down = Client("127.0.0.1:" + std::to_string(ClosedPort()), 1);
    const SubmitReport report = SubmitQueued(*down, *queue_, {mine}, log_);
    EXPECT_EQ(report.failed, 1);
  }
  EXPECT_TRUE(fs::exists(mine));
  ASSERT_EQ(Pending().size(), 1u);  // a copy waits in the queue
  EXPECT_EQ(ReadFileBytes(Pending()[0]), ReadFileBytes(mine));

  FakeCollector server;
  std::unique_ptr<CollectorClient> client = Client(server.target());
  const SubmitReport report = SubmitQueued(*client, *queue_, Pending(), log_);
  EXPECT_EQ(report.sent, 1);
  EXPECT_TRUE(Pending().empty());
  EXPECT_TRUE(fs::exists(mine));  // the person's own file is left alone

  // An unreadable file from outside is reported, not queued.
  EXPECT_EQ(SubmitQueued(*client, *queue_, {dir_.path() / "missing.signed"}, log_).failed, 1);
  EXPECT_TRUE(Pending().empty());
}

}  // namespace
}  // namespace aiscore
