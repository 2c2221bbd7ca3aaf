// CollectorClient against a real gRPC server on loopback: retries only
// UNAVAILABLE and DEADLINE_EXCEEDED, stops after max_attempts, keeps the
// canonical code and names the collector in errors, sets a deadline on every
// call, and passes requests and responses through unchanged.
#include "agent/upload/collector_client.h"

#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "agent/sign/envelope.h"
#include "tests/sign/test_run_result.h"
#include "tests/upload/fake_collector.h"

namespace aiscore {
namespace {

using google::protobuf::util::MessageDifferencer;
using std::chrono::milliseconds;

CollectorOptions FastOptions() {
  CollectorOptions o;
  o.deadline = milliseconds(5000);
  o.max_attempts = 5;
  o.initial_backoff = milliseconds(10);
  o.max_backoff = milliseconds(50);
  return o;
}

std::unique_ptr<CollectorClient> NewClient(const std::string& target,
                                           const CollectorOptions& options = FastOptions()) {
  absl::StatusOr<std::unique_ptr<CollectorClient>> client =
      CollectorClient::Create(target, options);
  EXPECT_TRUE(client.ok()) << client.status();
  return std::move(*client);
}

aiscore::v1::SubmitRequest NewRequest() {
  absl::StatusOr<KeyPair> key = KeyPair::Generate();
  EXPECT_TRUE(key.ok());
  absl::StatusOr<aiscore::v1::SignedResult> envelope = SignRunResult(TestRunResult(), *key);
  EXPECT_TRUE(envelope.ok());
  aiscore::v1::SubmitRequest request;
  *request.mutable_envelope() = *envelope;
  return request;
}

TEST(CollectorClientTest, RetriesUnavailableAndStoresTheResultOnce) {
  FakeCollector server;
  server.FailFirstSubmits(2);
  std::unique_ptr<CollectorClient> client = NewClient(server.target());
  std::vector<int> retried;
  client->set_retry_observer([&](int attempt, const absl::Status& error) {
    EXPECT_TRUE(absl::IsUnavailable(error)) << error;
    retried.push_back(attempt);
  });
  const aiscore::v1::SubmitRequest request = NewRequest();
  absl::StatusOr<aiscore::v1::SubmitResponse> response = client->Submit(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status(), aiscore::v1::SUBMIT_STATUS_ACCEPTED);
  EXPECT_EQ(server.submit_calls(), 3);
  EXPECT_EQ(retried, (std::vector<int>{1, 2}));
  EXPECT_EQ(server.stored().size(), 1u);

  // Sending it again is a duplicate with the same id, still one stored result.
  absl::StatusOr<aiscore::v1::SubmitResponse> again = client->Submit(request);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->status(), aiscore::v1::SUBMIT_STATUS_DUPLICATE);
  EXPECT_EQ(again->id(), response->id());
  EXPECT_EQ(server.stored().size(), 1u);
}

TEST(CollectorClientTest, RetriesDeadlineExceeded) {
  FakeCollector server;
  server.StallFirstSubmits(1, milliseconds(1500));
  CollectorOptions options = FastOptions();
  options.deadline = milliseconds(300);
  std::unique_ptr<CollectorClient> client = NewClient(server.target(), options);
  int retries = 0;
  client->set_retry_observer([&](int, const absl::Status& error) {
    EXPECT_TRUE(absl::IsDeadlineExceeded(error)) << error;
    ++retries;
  });
  absl::StatusOr<aiscore::v1::SubmitResponse> response = client->Submit(NewRequest());
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(retries, 1);
  EXPECT_EQ(server.submit_calls(), 2);
}

TEST(CollectorClientTest, GivesUpAfterMaxAttempts) {
  FakeCollector server;
  server.FailFirstSubmits(1000);
  CollectorOptions options = FastOptions();
  options.max_attempts = 3;
  std::unique_ptr<CollectorClient> client = NewClient(server.target(), options);
  absl::StatusOr<aiscore::v1::SubmitResponse> response = client->Submit(NewRequest());
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_EQ(server.submit_calls(), 3);
  const std::string message(response.status().message());
  EXPECT_NE(message.find("collector " + server.target() + ": Submit: collector is starting up"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("gave up after 3 attempts"), std::string::npos) << message;
}

TEST(CollectorClientTest, OtherErrorsAreNotRetriedAndKeepTheirCode) {
  const struct {
    grpc::StatusCode grpc_code;
    absl::StatusCode code;
  } cases[] = {
      {grpc::StatusCode::INVALID_ARGUMENT, absl::StatusCode::kInvalidArgument},
      {grpc::StatusCode::RESOURCE_EXHAUSTED, absl::StatusCode::kResourceExhausted},
      {grpc::StatusCode::PERMISSION_DENIED, absl::StatusCode::kPermissionDenied},
      {grpc::StatusCode::INTERNAL, absl::StatusCode::kInternal},
      {grpc::StatusCode::UNIMPLEMENTED, absl::StatusCode::kUnimplemented},
  };
  for (const auto& c : cases) {
    FakeCollector server;
    server.FailEverySubmit(c.grpc_code, "no envelope in the request");
    std::unique_ptr<CollectorClient> client = NewClient(server.target());
    absl::StatusOr<aiscore::v1::SubmitResponse> response = client->Submit(NewRequest());
    ASSERT_FALSE(response.ok());
    EXPECT_EQ(response.status().code(), c.code) << response.status();
    EXPECT_EQ(server.submit_calls(), 1) << response.status();
    EXPECT_EQ(std::string(response.status().message()),
              "collector " + server.target() + ": Submit: no envelope in the request");
  }
}

TEST(CollectorClientTest, UnreachableCollectorIsUnavailableAndNamed) {
  const std::string target = "127.0.0.1:" + std::to_string(ClosedPort());
  CollectorOptions options = FastOptions();
  options.max_attempts = 2;
  std::unique_ptr<CollectorClient> client = NewClient(target, options);
  absl::StatusOr<aiscore::v1::SubmitResponse> response = client->Submit(NewRequest());
  ASSERT_FALSE(response.ok());
  EXPECT_TRUE(absl::IsUnavailable(response.status())) << response.status();
  EXPECT_NE(std::string(response.status().message()).find("collector " + target + ": Submit: "),
            std::string::npos)
      << response.status();
}

TEST(CollectorClientTest, EveryCallHasADeadline) {
  FakeCollector server;
  CollectorOptions options = FastOptions();
  options.deadline = milliseconds(4000);
  std::unique_ptr<CollectorClient> client = NewClient(server.target(), options);
  ASSERT_TRUE(client->Submit(NewRequest()).ok());
  ASSERT_TRUE(client->GetLeaderboard({}).ok());
  ASSERT_TRUE(client->ListGpus({}).ok());
  ASSERT_TRUE(client->Predict({}).ok());
  aiscore::v1::GetResultRequest get;
  get.set_id("nothing");
  absl::StatusOr<aiscore::v1::GetResultResponse> missing = client->GetResult(get);
  EXPECT_TRUE(absl::IsNotFound(missing.status())) << missing.status();
  const std::vector<milliseconds> deadlines = server.deadlines();
  ASSERT_EQ(deadlines.size(), 5u);
  for (milliseconds left : deadlines) {
    EXPECT_GT(left.count(), 2000);
    EXPECT_LE(left.count(), 4100);  // gRPC sends the timeout rounded up
  }
}

TEST(CollectorClientTest, ReadMethodsPassRequestsAndResponsesThrough) {
  FakeCollector server;
  aiscore::v1::GetLeaderboardResponse board;
  board.set_suite("v1");
  board.set_total_entries(7);
  board.set_next_page_token("page-2");
  aiscore::v1::LeaderboardEntry* e = board.add_entries();
  e->set_rank(1);
  e->set_gpu("NVIDIA H100 80GB HBM3");
  e->set_median_score(4321.5);
  e->mutable_median_sub_scores()->set_decode(987.25);
  server.set_leaderboard(board);
  aiscore::v1::PredictResponse prediction;
  prediction.set_fits(true);
  prediction.mutable_decode_tokens_per_second()->set_value(42.5);
  prediction.set_basis("fit to 12 results");
  server.set_predict(prediction);

  std::unique_ptr<CollectorClient> client = NewClient(server.target());
  aiscore::v1::GetLeaderboardRequest board_request;
  board_request.set_gpu_filter("h100");
  board_request.set_sort(aiscore::v1::LEADERBOARD_SORT_BEST_SCORE);
  board_request.set_page_size(10);
  absl::StatusOr<aiscore::v1::GetLeaderboardResponse> got_board =
      client->GetLeaderboard(board_request);
  ASSERT_TRUE(got_board.ok()) << got_board.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*got_board, board));
  EXPECT_TRUE(MessageDifferencer::Equals(server.last_leaderboard_request(), board_request));

  aiscore::v1::PredictRequest predict_request;
  predict_request.mutable_gpu()->set_name("RTX 4060");
  predict_request.mutable_model()->set_preset("llama-3.1-8b");
  predict_request.set_format("q4_k");
  absl::StatusOr<aiscore::v1::PredictResponse> got_prediction = client->Predict(predict_request);
  ASSERT_TRUE(got_prediction.ok()) << got_prediction.status();
  EXPECT_TRUE(MessageDifferencer::Equals(*got_prediction, prediction));
  EXPECT_TRUE(MessageDifferencer::Equals(server.last_predict_request(), predict_request));

  absl::StatusOr<aiscore::v1::ListGpusResponse> gpus = client->ListGpus({});
  ASSERT_TRUE(gpus.ok());
  ASSERT_EQ(gpus->gpus_size(), 1);
  EXPECT_EQ(gpus->gpus(0).name(), "NVIDIA GeForce RTX 4090");
}

TEST(CollectorClientTest, BadOptionsAreRefused) {
  CollectorOptions options;
  EXPECT_TRUE(absl::IsInvalidArgument(CollectorClient::Create("", options).status()));
  options.max_attempts = 0;
  EXPECT_TRUE(absl::IsInvalidArgument(CollectorClient::Create("h:1", options).status()));
  options = CollectorOptions();
  options.ca_file = "/nonexistent/ca.pem";
  EXPECT_TRUE(absl::IsInvalidArgument(CollectorClient::Create("h:1", options).status()));
  options.tls = true;
  absl::Status missing_ca = CollectorClient::Create("h:1", options).status();
  EXPECT_TRUE(absl::IsNotFound(missing_ca)) << missing_ca;
  EXPECT_NE(std::string(missing_ca.message()).find("/nonexistent/ca.pem"), std::string::npos);
  options.ca_file.clear();
  EXPECT_TRUE(CollectorClient::Create("h:1", options).ok());  // TLS with the system's roots
}

}  // namespace
}  // namespace aiscore
