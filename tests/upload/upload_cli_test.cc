// Runs the real `aiscore` binary against a real gRPC collector on loopback
// (tests/upload/fake_collector.h): `key`, `submit`, `leaderboard` and
// `predict`. Each test has its own $XDG_CONFIG_HOME and $XDG_DATA_HOME, so
// the user's key and queue are never touched.
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <string>

#include "absl/strings/escaping.h"
#include "agent/sign/envelope.h"
#include "agent/sign/envelope_file.h"
#include "agent/upload/result_queue.h"
#include "tests/read_file_bytes.h"
#include "tests/shell_command.h"
#include "tests/sign/test_run_result.h"
#include "tests/temp_dir.h"
#include "tests/upload/fake_collector.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;
using google::protobuf::util::MessageDifferencer;

struct CommandOutput {
  int exit_code;
  std::string out;  // stdout
  std::string err;  // stderr
  std::string all() const { return out + err; }
};

class UploadCliTest : public ::testing::Test {
 protected:
  // Runs `aiscore args` with this test's XDG directories and `env` (NAME=VALUE ...).
  CommandOutput Aiscore(const std::string& args, const std::string& env = "") {
    const std::string err = dir_.Path("stderr.txt");
    const CommandResult r =
        RunShellCommand("env -u AISCORE_COLLECTOR XDG_CONFIG_HOME=" + dir_.Path("config") +
                        " XDG_DATA_HOME=" + dir_.Path("data") + " " + env + " " + AISCORE_BINARY +
                        " " + args + " 2>" + err);
    return {r.exit_code, r.output, ReadFileBytes(err)};
  }

  fs::path QueueDir() const { return dir_.path() / "data" / "aiscore" / "queue"; }
  ResultQueue Queue() {
    absl::StatusOr<ResultQueue> q = ResultQueue::Open(QueueDir());
    EXPECT_TRUE(q.ok());
    return *q;
  }
  // What `aiscore run` leaves when it is killed before submitting: a signed
  // result in the queue.
  fs::path EnqueueSignedResult(aiscore::v1::SignedResult* out = nullptr) {
    absl::StatusOr<KeyPair> key = KeyPair::Generate();
    EXPECT_TRUE(key.ok());
    absl::StatusOr<aiscore::v1::SignedResult> envelope = SignRunResult(TestRunResult(), *key);
    EXPECT_TRUE(envelope.ok());
    if (out != nullptr) *out = *envelope;
    absl::StatusOr<fs::path> path = Queue().Enqueue(*envelope);
    EXPECT_TRUE(path.ok());
    return *path;
  }
  std::vector<fs::path> Pending() { return *Queue().Pending(); }

  TempDir dir_;
};

TEST_F(UploadCliTest, KeyShowCreatesAPrivateKeyOnceAndShowsItsFingerprint) {
  CommandOutput r = Aiscore("key show");
  ASSERT_EQ(r.exit_code, 0) << r.all();
  const fs::path key = dir_.path() / "config" / "aiscore" / "key";
  EXPECT_NE(r.err.find("created new key " + key.string()), std::string::npos) << r.err;
  struct stat st {};
  ASSERT_EQ(::stat(key.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  absl::StatusOr<KeyPair> loaded = KeyPair::Load(key);
  ASSERT_TRUE(loaded.ok());
  EXPECT_NE(r.out.find(loaded->Fingerprint()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(absl::BytesToHexString(loaded->public_key())), std::string::npos) << r.out;

  CommandOutput again = Aiscore("key show");
  ASSERT_EQ(again.exit_code, 0) << again.all();
  EXPECT_EQ(again.err.find("created"), std::string::npos) << again.err;
  EXPECT_EQ(again.out, r.out);

  CommandOutput path = Aiscore("key path");
  ASSERT_EQ(path.exit_code, 0);
  EXPECT_EQ(path.out, key.string() + "\n");

  ASSERT_EQ(::chmod(key.c_str(), 0644), 0);
  CommandOutput loose = Aiscore("key show");
  EXPECT_EQ(loose.exit_code, 1);
  EXPECT_NE(loose.err.find(key.string()), std::string::npos) << loose.err;
  EXPECT_NE(loose.err.find("0644"), std::string::npos) << loose.err;

  const fs::path other = dir_.path() / "elsewhere" / "key";
  CommandOutput custom = Aiscore("key show --key " + other.string());
  ASSERT_EQ(custom.exit_code, 0) << custom.all();
  EXPECT_TRUE(fs::exists(other));
}

TEST_F(UploadCliTest, SubmitPendingSendsWhatAKilledRunLeftInTheQueue) {
  FakeCollector server;
  aiscore::v1::SignedResult envelope;
  const fs::path queued = EnqueueSignedResult(&envelope);  // and the process "died" here
  CommandOutput r = Aiscore("submit --pending --collector " + server.target());
  ASSERT_EQ(r.exit_code, 0) << r.all();
  EXPECT_EQ(server.submit_calls(), 1);
  const std::map<std::string, std::string> stored = server.stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored.begin()->first, VerifyEnvelope(envelope)->nonce());
  EXPECT_TRUE(Pending().empty());
  EXPECT_FALSE(fs::exists(queued));
  EXPECT_NE(r.out.find("id result-1 ACCEPTED, score 1234.5"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("1 sent"), std::string::npos) << r.out;

  // Nothing left: a second run has nothing to do.
  CommandOutput empty = Aiscore("submit --pending --collector " + server.target());
  EXPECT_EQ(empty.exit_code, 0) << empty.all();
  EXPECT_NE(empty.out.find("queue"), std::string::npos);
  EXPECT_EQ(server.submit_calls(), 1);
}

TEST_F(UploadCliTest, SubmitUsesAiscoreCollectorFromTheEnvironment) {
  FakeCollector server;
  EnqueueSignedResult();
  CommandOutput r = Aiscore("submit --pending", "AISCORE_COLLECTOR=" + server.target());
  ASSERT_EQ(r.exit_code, 0) << r.all();
  EXPECT_EQ(server.stored().size(), 1u);
}

TEST_F(UploadCliTest, SubmitRetriesAnUnavailableCollector) {
  FakeCollector server;
  server.FailFirstSubmits(2);
  EnqueueSignedResult();
  CommandOutput r = Aiscore(
      "submit --pending --timeout 5 --attempts 5 --backoff 0.05 --collector " + server.target());
  ASSERT_EQ(r.exit_code, 0) << r.all();
  EXPECT_EQ(server.submit_calls(), 3);
  EXPECT_EQ(server.stored().size(), 1u);
  EXPECT_TRUE(Pending().empty());
  EXPECT_NE(r.err.find("trying again (attempt 2 of 5)"), std::string::npos) << r.err;
}

TEST_F(UploadCliTest, SubmitMovesARejectedResultAsideAndFails) {
  FakeCollector server;
  server.RejectEverySubmit(aiscore::v1::REJECT_REASON_TIMESTAMP, "finished 40 days ago");
  const fs::path queued = EnqueueSignedResult();
  CommandOutput r = Aiscore("submit --pending --collector " + server.target());
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_TRUE(Pending().empty());
  const fs::path rejected = QueueDir() / "rejected" / queued.filename();
  EXPECT_TRUE(fs::exists(rejected));
  const std::string reason = ReadFileBytes(rejected.string() + ".reason");
  EXPECT_NE(reason.find("REJECT_REASON_TIMESTAMP: finished 40 days ago"), std::string::npos)
      << reason;
  EXPECT_NE(r.out.find("REJECT_REASON_TIMESTAMP"), std::string::npos) << r.out;
}

TEST_F(UploadCliTest, SubmitDoesNotRetryInvalidArgument) {
  FakeCollector server;
  server.FailEverySubmit(grpc::StatusCode::INVALID_ARGUMENT, "request has no envelope");
  EnqueueSignedResult();
  CommandOutput r =
      Aiscore("submit --pending --attempts 5 --backoff 0.05 --collector " + server.target());
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_EQ(server.submit_calls(), 1);
  EXPECT_TRUE(Pending().empty());
  EXPECT_NE(r.out.find("request has no envelope"), std::string::npos) << r.out;
}

TEST_F(UploadCliTest, SubmitToAnUnreachableCollectorKeepsTheResult) {
  const fs::path queued = EnqueueSignedResult();
  const std::string target = "127.0.0.1:" + std::to_string(ClosedPort());
  CommandOutput r =
      Aiscore("submit --pending --attempts 2 --backoff 0.05 --timeout 2 --collector " + target);
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_EQ(Pending(), std::vector<fs::path>{queued});
  EXPECT_NE(r.all().find("collector " + target + ": Submit: "), std::string::npos) << r.all();
  EXPECT_NE(r.err.find("1 left in the queue " + fs::canonical(QueueDir()).string() +
                       "; send them later with `aiscore submit --pending`"),
            std::string::npos)
      << r.err;
}

TEST_F(UploadCliTest, SubmitNeverSendsATamperedQueueFile) {
  FakeCollector server;
  aiscore::v1::SignedResult envelope;
  const fs::path queued = EnqueueSignedResult(&envelope);
  (*envelope.mutable_payload())[envelope.payload().size() / 2] ^= 0x10;
  ASSERT_TRUE(WriteEnvelopeFile(queued, envelope).ok());
  CommandOutput r = Aiscore("submit --pending --collector " + server.target());
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_EQ(server.submit_calls(), 0);
  EXPECT_TRUE(Pending().empty());
  const std::string reason =
      ReadFileBytes(QueueDir() / "rejected" / (queued.filename().string() + ".reason"));
  EXPECT_EQ(reason.rfind("local verification failed: ", 0), 0u) << reason;
}

TEST_F(UploadCliTest, SubmitANamedFileFromOutsideTheQueue) {
  FakeCollector server;
  absl::StatusOr<KeyPair> key = KeyPair::Generate();
  ASSERT_TRUE(key.ok());
  const fs::path mine = dir_.path() / "run.signed";
  ASSERT_TRUE(WriteEnvelopeFile(mine, *SignRunResult(TestRunResult(), *key)).ok());
  CommandOutput r = Aiscore("submit " + mine.string() + " --collector " + server.target());
  ASSERT_EQ(r.exit_code, 0) << r.all();
  EXPECT_EQ(server.stored().size(), 1u);
  EXPECT_TRUE(Pending().empty());
  EXPECT_TRUE(fs::exists(mine));
}

TEST_F(UploadCliTest, SubmitWithNothingToSendIsAUsageError) {
  CommandOutput r = Aiscore("submit");
  EXPECT_EQ(r.exit_code, 2) << r.all();
  EXPECT_NE(r.err.find("--pending"), std::string::npos) << r.err;
}

aiscore::v1::GetLeaderboardResponse TwoGpuLeaderboard() {
  aiscore::v1::GetLeaderboardResponse board;
  board.set_suite("v1");
  board.set_total_entries(2);
  board.set_next_page_token("tok-2");
  const struct {
    const char* gpu;
    const char* backend;
    int64_t results;
    double median, p25, p75, best, decode;
  } rows[] = {{"NVIDIA GeForce RTX 4090", "cuda", 12, 3456.7, 3300.1, 3500.2, 3701.9, 4100.3},
              {"AMD EPYC 9654 96-Core Processor", "cpu", 3, 210.4, 200.5, 220.6, 230.8, 150.2}};
  int rank = 0;
  for (const auto& row : rows) {
    aiscore::v1::LeaderboardEntry* e = board.add_entries();
    e->set_rank(++rank);
    e->set_gpu(row.gpu);
    e->set_backend(row.backend);
    e->set_results(row.results);
    e->set_median_score(row.median);
    e->set_p25_score(row.p25);
    e->set_p75_score(row.p75);
    e->set_best_score(row.best);
    e->mutable_median_sub_scores()->set_prefill(row.median + 1);
    e->mutable_median_sub_scores()->set_decode(row.decode);
    e->mutable_median_sub_scores()->set_latency(row.median + 2);
    e->mutable_median_sub_scores()->set_long_context(row.median + 3);
    e->mutable_median_sub_scores()->set_speculative(row.median + 4);
    e->set_best_result_id("best-" + std::to_string(rank));
  }
  return board;
}

TEST_F(UploadCliTest, LeaderboardPrintsTheCollectorsFigures) {
  FakeCollector server;
  const aiscore::v1::GetLeaderboardResponse board = TwoGpuLeaderboard();
  server.set_leaderboard(board);
  CommandOutput r = Aiscore(
      "leaderboard --gpu rtx --backend cuda --format q4_k --sort best --page-size 10 "
      "--page-token tok-1 --collector " +
      server.target());
  ASSERT_EQ(r.exit_code, 0) << r.all();
  for (const char* figure : {"NVIDIA GeForce RTX 4090", "AMD EPYC 9654 96-Core Processor", "cuda",
                             "3456.7", "3300.1", "3500.2", "3701.9", "4100.3", "3457.7", "3458.7",
                             "3459.7", "3460.7", "210.4", "150.2", "tok-2"}) {
    EXPECT_NE(r.out.find(figure), std::string::npos) << figure << "\n" << r.out;
  }
  // The RTX row comes first, with its rank and result count.
  EXPECT_LT(r.out.find("RTX 4090"), r.out.find("EPYC"));
  EXPECT_NE(r.out.find("   1  NVIDIA GeForce RTX 4090"), std::string::npos) << r.out;
  const aiscore::v1::GetLeaderboardRequest request = server.last_leaderboard_request();
  EXPECT_EQ(request.suite(), "v1");
  EXPECT_EQ(request.gpu_filter(), "rtx");
  EXPECT_EQ(request.backend(), "cuda");
  EXPECT_EQ(request.format(), "q4_k");
  EXPECT_EQ(request.sort(), aiscore::v1::LEADERBOARD_SORT_BEST_SCORE);
  EXPECT_EQ(request.page_size(), 10);
  EXPECT_EQ(request.page_token(), "tok-1");

  CommandOutput json = Aiscore("leaderboard --json --collector " + server.target());
  ASSERT_EQ(json.exit_code, 0) << json.all();
  aiscore::v1::GetLeaderboardResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(json.out, &parsed).ok()) << json.out;
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, board)) << json.out;
  EXPECT_NE(json.out.find("\"median_score\": 3456.7"), std::string::npos) << json.out;

  EXPECT_EQ(Aiscore("leaderboard --sort fastest --collector " + server.target()).exit_code, 2);
}

TEST_F(UploadCliTest, PredictPrintsTheCollectorsFigures) {
  FakeCollector server;
  aiscore::v1::PredictResponse prediction;
  prediction.set_fits(true);
  prediction.set_gpu("RTX 4060");
  prediction.set_gpu_memory_bytes(8LL << 30);
  prediction.mutable_memory()->set_weights_bytes(4LL << 30);                // 4.00 GiB
  prediction.mutable_memory()->set_kv_cache_bytes(512LL << 20);             // 0.50 GiB
  prediction.mutable_memory()->set_activations_bytes(256LL << 20);          // 0.25 GiB
  prediction.mutable_memory()->set_overhead_bytes(768LL << 20);             // 0.75 GiB
  prediction.mutable_memory()->set_total_bytes(5LL << 30 | (512LL << 20));  // 5.50 GiB
  prediction.mutable_decode_tokens_per_second()->set_value(41.37);
  prediction.mutable_decode_tokens_per_second()->set_relative_error(0.08);
  prediction.mutable_decode_tokens_per_second()->set_error_measured(true);
  prediction.mutable_prefill_tokens_per_second()->set_value(1523.4);
  prediction.mutable_prefill_tokens_per_second()->set_relative_error(0.12);
  prediction.mutable_prefill_tokens_per_second()->set_error_measured(true);
  prediction.mutable_time_to_first_token_seconds()->set_value(5.38);
  prediction.set_basis("fit to 12 results of NVIDIA GeForce RTX 4060");
  prediction.set_results(12);
  prediction.set_context_tokens(8192);
  server.set_predict(prediction);

  CommandOutput r = Aiscore(
      "predict --gpu 'RTX 4060' --model llama-3.1-8b --format q4_k --context 8192 "
      "--collector " +
      server.target());
  ASSERT_EQ(r.exit_code, 0) << r.all();
  for (const char* text : {"fits         yes",
                           "5.50 GiB = weights 4.00 + KV cache 0.50 + activations 0.25 + "
                           "overhead 0.75 GiB",
                           "8.00 GiB", "41.4 tok/s (38.1 to 44.7, +-8%)",
                           "1523.4 tok/s (1340.6 to 1706.2, +-12%)",
                           "5.4 s (error not measured yet)",
                           "fit to 12 results of NVIDIA GeForce RTX 4060 (12 measured results)",
                           "8192 tokens"}) {
    EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
  }
  aiscore::v1::PredictRequest request = server.last_predict_request();
  EXPECT_EQ(request.gpu().name(), "RTX 4060");
  EXPECT_EQ(request.model().preset(), "llama-3.1-8b");
  EXPECT_EQ(request.format(), "q4_k");
  EXPECT_EQ(request.context_tokens(), 8192);

  CommandOutput figures = Aiscore(
      "predict --memory-gib 8 --bandwidth-gbs 272 --tflops 22.1 "
      "--model mistral-7b --format q8_0 --json --collector " +
      server.target());
  ASSERT_EQ(figures.exit_code, 0) << figures.all();
  request = server.last_predict_request();
  ASSERT_TRUE(request.gpu().has_figures());
  EXPECT_EQ(request.gpu().figures().memory_bytes(), 8LL << 30);
  EXPECT_DOUBLE_EQ(request.gpu().figures().memory_bandwidth(), 272e9);
  EXPECT_DOUBLE_EQ(request.gpu().figures().fp16_flops(), 22.1e12);
  aiscore::v1::PredictResponse parsed;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(figures.out, &parsed).ok())
      << figures.out;
  EXPECT_TRUE(MessageDifferencer::Equals(parsed, prediction)) << figures.out;

  // A GPU must be named or described, and not both.
  EXPECT_EQ(Aiscore("predict --model x --format q4_k --collector " + server.target()).exit_code, 2);
  EXPECT_EQ(Aiscore("predict --memory-gib 8 --model x --format q4_k --collector " + server.target())
                .exit_code,
            2);
  EXPECT_EQ(
      Aiscore("predict --gpu a --tflops 3 --model x --format q4_k --collector " + server.target())
          .exit_code,
      2);
}

TEST_F(UploadCliTest, ReadingFromAnUnreachableCollectorFailsClearly) {
  const std::string target = "127.0.0.1:" + std::to_string(ClosedPort());
  CommandOutput r = Aiscore("leaderboard --timeout 2 --collector " + target);
  EXPECT_EQ(r.exit_code, 1) << r.all();
  EXPECT_NE(r.err.find("collector " + target + ": GetLeaderboard: "), std::string::npos) << r.err;
}

}  // namespace
}  // namespace aiscore

namespace aiscore {
namespace {

// `aiscore run --submit`: the run is measured, signed, queued, sent and
// acknowledged; exactly one result is stored and the queue is empty. When the
// collector is down, the run's result stays queued for `submit --pending`.
TEST_F(UploadCliTest, RunSubmitSendsTheMeasuredResultOnce) {
  FakeCollector server;
  server.FailFirstSubmits(1);
  CommandOutput r =
      Aiscore("run --suite quick --format q4_k --workload chat --submit " + server.target());
  ASSERT_EQ(r.exit_code, 0) << r.all();
  EXPECT_EQ(server.submit_calls(), 2);
  ASSERT_EQ(server.stored().size(), 1u);
  EXPECT_TRUE(Pending().empty());
  EXPECT_NE(r.out.find("ACCEPTED"), std::string::npos) << r.out;
}

TEST_F(UploadCliTest, RunSubmitToADownCollectorKeepsTheResultQueued) {
  FakeCollector down;
  down.FailEverySubmit(grpc::StatusCode::UNAVAILABLE, "maintenance");
  CommandOutput r =
      Aiscore("run --suite quick --format q2_k --workload chat --submit " + down.target());
  EXPECT_EQ(r.exit_code, 1) << r.all();
  ASSERT_EQ(Pending().size(), 1u);
  EXPECT_NE(r.err.find("submit --pending"), std::string::npos) << r.err;
  FakeCollector up;
  CommandOutput again = Aiscore("submit --pending --collector " + up.target());
  ASSERT_EQ(again.exit_code, 0) << again.all();
  EXPECT_EQ(up.stored().size(), 1u);
  EXPECT_TRUE(Pending().empty());
}

}  // namespace
}  // namespace aiscore
