// CollectorService in process: a real gRPC server on a loopback port over a
// real SQLite file, driven by a real client with signed quick-suite results.
#include "collector/service/collector_service.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "agent/sign/envelope.h"
#include "agent/sign/key_pair.h"
#include "collector/service/connection_listener.h"
#include "collector/service/outlier_check.h"
#include "scoring/hardware_table.h"
#include "scoring/memory_model.h"
#include "scoring/model_presets.h"
#include "scoring/reference_values.h"
#include "tests/collector/quick_result.h"
#include "tests/temp_dir.h"

namespace aiscore::collector {
namespace {

using ::testing::ElementsAre;

class CollectorServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<LoadedSuite> quick = LoadSuite("quick");
    ASSERT_TRUE(quick.ok());
    quick_ = *quick;
    absl::StatusOr<KeyPair> key = KeyPair::Generate();
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<KeyPair>(*key);
    ASSERT_TRUE(verifier_.RegisterBuiltInSuites().ok());
    absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(dir_.Path("c.db"));
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
    absl::StatusOr<LoadedSuite> v1_suite = LoadSuite("v1");
    ASSERT_TRUE(v1_suite.ok());
    v1_ = *v1_suite;
    StartServer(ServiceOptions{});
  }

  // (Re)starts the server with a new service configured by `options`, its
  // connections accepted by a ConnectionListener as in aiscore-collector.
  void StartServer(ServiceOptions options) {
    if (listener_) listener_->Stop();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
    server_.reset();
    listener_.reset();
    options.resolve_peer = [this](std::string_view peer) { return listener_->Peer(peer); };
    service_ = std::make_unique<CollectorService>(store_.get(), &verifier_, options);
    grpc::ServerBuilder builder;
    ApplyServerLimits(&builder);
    builder.RegisterService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    absl::StatusOr<std::unique_ptr<ConnectionListener>> listener =
        ConnectionListener::Start(server_.get(), "127.0.0.1:0");
    ASSERT_TRUE(listener.ok()) << listener.status();
    listener_ = std::move(*listener);
    const int port = listener_->port();
    grpc::ChannelArguments args;
    args.SetMaxSendMessageSize(8 << 20);
    stub_ = v1::Collector::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials(), args));
  }

  void TearDown() override {
    if (listener_) listener_->Stop();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }

  v1::SignedResult Signed() {
    absl::StatusOr<v1::SignedResult> e = SignRunResult(QuickResult(quick_, absl::Now()), *key_);
    EXPECT_TRUE(e.ok());
    return *e;
  }

  // A signed v1 result (rankable) at `speed` x the reference, on `gpu` (with
  // `memory_bytes`) when given, else on the CPU.
  // `overhead_bytes` >= 0: each case that ran reports a peak of the memory
  // model's figure plus that overhead.
  v1::SubmitRequest V1Request(double speed, const std::string& gpu = "", int64_t memory_bytes = 0,
                              int64_t overhead_bytes = -1) {
    v1::RunResult r = QuickResult(v1_, absl::Now(), speed);
    for (v1::CaseResult& c : *r.mutable_cases()) {
      if (overhead_bytes < 0 || c.status() != v1::CASE_STATUS_OK) continue;
      const v1::Workload* w = nullptr;
      for (const v1::Workload& x : v1_.spec.workloads()) {
        if (x.name() == c.workload()) w = &x;
      }
      absl::StatusOr<MemoryEstimate> m =
          EstimateMemory(*FindModel(v1_.spec, w->model()), c.format(),
                         w->prompt_tokens() + w->generate_tokens(), MemoryCalibration{0, ""});
      c.set_peak_memory_bytes(m->total_bytes + overhead_bytes);
    }
    if (!gpu.empty()) {
      r.mutable_backend()->set_name("cuda");
      v1::GpuInfo* g = r.mutable_hardware()->add_gpus();
      g->set_name(gpu);
      g->set_memory_bytes(memory_bytes);
    }
    absl::StatusOr<v1::SignedResult> e = SignRunResult(r, *key_);
    EXPECT_TRUE(e.ok());
    v1::SubmitRequest request;
    *request.mutable_envelope() = *e;
    return request;
  }

  grpc::Status Submit(const v1::SubmitRequest& request, v1::SubmitResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    return stub_->Submit(&context, request, response);
  }

  grpc::Status GetResult(const std::string& id, v1::GetResultResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::GetResultRequest request;
    request.set_id(id);
    return stub_->GetResult(&context, request, response);
  }

  grpc::Status Leaderboard(const v1::GetLeaderboardRequest& request,
                           v1::GetLeaderboardResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->GetLeaderboard(&context, request, response);
  }

  // Stores a ranked v1 result directly, for the leaderboard.
  void StoreRanked(const std::string& gpu, const std::string& backend, double score) {
    StoredResult r;
    r.id = "id" + std::to_string(next_++);
    r.nonce = "nonce" + r.id;
    r.public_key = key_->public_key();
    r.suite = "v1";
    r.suite_sha256 = "00";
    r.gpu = gpu;
    r.backend = backend;
    r.score = score;
    r.status = "accepted";
    r.envelope = "x";
    r.scores = {{"", score, {score, score, score, score, score, 1}}};
    ASSERT_TRUE(store_->Insert(r).ok());
  }

  TempDir dir_;
  LoadedSuite quick_;
  LoadedSuite v1_;
  std::unique_ptr<KeyPair> key_;
  SubmissionVerifier verifier_;
  std::unique_ptr<ResultStore> store_;
  std::unique_ptr<CollectorService> service_;
  std::unique_ptr<ConnectionListener> listener_;  // destroyed after server_, whose calls use it
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<v1::Collector::Stub> stub_;
  int next_ = 0;
};

TEST_F(CollectorServiceTest, AcceptedResultIsStoredAndReadBack) {
  v1::SubmitRequest request;
  *request.mutable_envelope() = Signed();
  v1::SubmitResponse response;
  ASSERT_TRUE(Submit(request, &response).ok());
  EXPECT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED) << response.message();
  EXPECT_EQ(response.id().size(), 16u);
  EXPECT_NEAR(response.score(), 1000.0 * 8 / 12, 1e-6);

  absl::StatusOr<StoredResult> stored = store_->GetById(response.id());
  ASSERT_TRUE(stored.ok()) << stored.status();
  EXPECT_EQ(stored->gpu, "CPU: unknown");  // QuickResult has no hardware
  EXPECT_EQ(stored->backend, "cpu");
  EXPECT_FALSE(stored->ranked());
  EXPECT_EQ(stored->flags, kFlagUnrankableSuite);
  EXPECT_EQ(stored->public_key, key_->public_key());
  EXPECT_FALSE(stored->cases.empty());
  v1::SignedResult envelope;
  ASSERT_TRUE(envelope.ParseFromString(stored->envelope));
  EXPECT_EQ(envelope.payload(), request.envelope().payload());  // signed bytes verbatim
  EXPECT_TRUE(VerifyEnvelope(envelope).ok());

  v1::GetResultResponse result;
  ASSERT_TRUE(GetResult(response.id(), &result).ok());
  EXPECT_EQ(result.id(), response.id());
  EXPECT_EQ(result.result().SerializeAsString(), request.envelope().payload());
  EXPECT_DOUBLE_EQ(result.score(), response.score());
  EXPECT_EQ(result.public_key_fingerprint(), key_->Fingerprint());
  EXPECT_GT(result.received_at().seconds(), 0);
  EXPECT_FALSE(result.ranked());
  EXPECT_THAT(result.flags(), ElementsAre("unrankable-suite"));
  EXPECT_DOUBLE_EQ(result.sub_scores().decode(), 1000);  // measured at the reference
  EXPECT_DOUBLE_EQ(result.sub_scores().capacity(), 8.0 / 12);
}

TEST_F(CollectorServiceTest, TamperedPayloadIsRejectedAndNotStored) {
  const v1::SignedResult intact = Signed();
  v1::SubmitRequest request;
  *request.mutable_envelope() = intact;
  std::string payload = intact.payload();
  payload[payload.size() / 2] ^= 1;
  request.mutable_envelope()->set_payload(payload);
  v1::SubmitResponse response;
  ASSERT_TRUE(Submit(request, &response).ok());
  EXPECT_EQ(response.status(), v1::SUBMIT_STATUS_REJECTED);
  EXPECT_EQ(response.reason(), v1::REJECT_REASON_SIGNATURE);
  EXPECT_FALSE(response.message().empty());
  EXPECT_TRUE(response.id().empty());

  // Nothing was stored: the intact envelope, same nonce, is the first one.
  *request.mutable_envelope() = intact;
  ASSERT_TRUE(Submit(request, &response).ok());
  EXPECT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED);
}

TEST_F(CollectorServiceTest, FiftyConcurrentCopiesGiveOneId) {
  v1::SubmitRequest request;
  *request.mutable_envelope() = Signed();
  constexpr int kCopies = 50;
  std::vector<v1::SubmitResponse> responses(kCopies);
  std::vector<grpc::Status> statuses(kCopies);
  std::vector<std::thread> threads;
  for (int i = 0; i < kCopies; ++i) {
    threads.emplace_back([&, i] { statuses[i] = Submit(request, &responses[i]); });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> ids;
  int accepted = 0;
  int duplicates = 0;
  for (int i = 0; i < kCopies; ++i) {
    ASSERT_TRUE(statuses[i].ok()) << statuses[i].error_message();
    ids.insert(responses[i].id());
    if (responses[i].status() == v1::SUBMIT_STATUS_ACCEPTED) ++accepted;
    if (responses[i].status() == v1::SUBMIT_STATUS_DUPLICATE) ++duplicates;
  }
  EXPECT_EQ(ids.size(), 1u);
  EXPECT_EQ(accepted, 1);
  EXPECT_EQ(duplicates, kCopies - 1);
}

TEST_F(CollectorServiceTest, ThirtyTwoConcurrentSubmittersAllGetAnAnswerAndNoBusyError) {
  constexpr int kSubmitters = 32;
  constexpr int kEach = 4;
  std::vector<v1::SubmitRequest> requests;
  // Speeds within 1.3% of each other: none is an outlier, whatever the order of arrival.
  for (int i = 0; i < kSubmitters * kEach; ++i) requests.push_back(V1Request(0.99 + 0.0001 * i));
  std::vector<std::string> failures(kSubmitters);
  std::vector<std::set<std::string>> ids(kSubmitters);
  std::vector<std::thread> threads;
  for (int t = 0; t < kSubmitters; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        v1::SubmitResponse response;
        const grpc::Status s = Submit(requests[t * kEach + i], &response);
        if (!s.ok() || response.status() != v1::SUBMIT_STATUS_ACCEPTED) {
          failures[t] += s.error_message() + response.message() + "; ";
        }
        ids[t].insert(response.id());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  std::set<std::string> all;
  for (int t = 0; t < kSubmitters; ++t) {
    EXPECT_EQ(failures[t], "") << "submitter " << t;
    all.insert(ids[t].begin(), ids[t].end());
  }
  EXPECT_EQ(all.size(), static_cast<size_t>(kSubmitters * kEach));
  v1::GetLeaderboardResponse board;
  ASSERT_TRUE(Leaderboard(v1::GetLeaderboardRequest(), &board).ok());
  ASSERT_EQ(board.entries_size(), 1);
  EXPECT_EQ(board.entries(0).results(), kSubmitters * kEach);
}

TEST_F(CollectorServiceTest, MissingEnvelopeAndOversizedRequest) {
  v1::SubmitResponse response;
  EXPECT_EQ(Submit(v1::SubmitRequest(), &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  v1::SubmitRequest big;
  *big.mutable_envelope() = Signed();
  big.mutable_envelope()->set_payload(std::string(2 << 20, 'x'));
  EXPECT_EQ(Submit(big, &response).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

// The receive limit is exact: a request of kMaxReceiveBytes is read (and
// rejected for its bad signature), one byte more is RESOURCE_EXHAUSTED.
TEST_F(CollectorServiceTest, RequestAtTheLimitIsReadAndOneByteOverIsResourceExhausted) {
  auto sized = [&](size_t bytes) {
    v1::SubmitRequest r;
    *r.mutable_envelope() = Signed();
    const size_t base = r.ByteSizeLong() - r.envelope().payload().size();
    // The payload's length prefix grows with it: shrink until the total fits.
    size_t n = bytes - base;
    r.mutable_envelope()->set_payload(std::string(n, 'x'));
    while (r.ByteSizeLong() > bytes) r.mutable_envelope()->set_payload(std::string(--n, 'x'));
    EXPECT_EQ(r.ByteSizeLong(), bytes);
    return r;
  };
  v1::SubmitResponse response;
  const grpc::Status at = Submit(sized(kMaxReceiveBytes), &response);
  EXPECT_TRUE(at.ok()) << at.error_message();
  EXPECT_EQ(response.status(), v1::SUBMIT_STATUS_REJECTED);
  EXPECT_EQ(Submit(sized(kMaxReceiveBytes + 1), &response).error_code(),
            grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(CollectorServiceTest, UnknownIdIsNotFoundAndAnEmptyPredictionIsInvalid) {
  v1::GetResultResponse result;
  EXPECT_EQ(GetResult("0123456789abcdef", &result).error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(GetResult("", &result).error_code(), grpc::StatusCode::NOT_FOUND);

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::PredictResponse predict;
  const grpc::Status s = stub_->Predict(&context, v1::PredictRequest(), &predict);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("names no GPU"));
}

TEST_F(CollectorServiceTest, LeaderboardSortsFiltersAndPages) {
  StoreRanked("NVIDIA GeForce RTX 4090", "cuda", 3000);
  StoreRanked("NVIDIA GeForce RTX 4090", "cuda", 3200);
  StoreRanked("NVIDIA GeForce RTX 4060", "cuda", 1000);
  StoreRanked("NVIDIA H100 80GB HBM3", "cuda", 5000);
  StoreRanked("CPU: AMD EPYC 9654", "cpu", 100);

  v1::GetLeaderboardRequest request;  // suite "v1", median score
  v1::GetLeaderboardResponse response;
  ASSERT_TRUE(Leaderboard(request, &response).ok());
  EXPECT_EQ(response.suite(), "v1");
  EXPECT_EQ(response.total_entries(), 4);
  ASSERT_EQ(response.entries_size(), 4);
  EXPECT_EQ(response.entries(0).gpu(), "NVIDIA H100 80GB HBM3");
  EXPECT_EQ(response.entries(0).rank(), 1);
  EXPECT_EQ(response.entries(1).gpu(), "NVIDIA GeForce RTX 4090");
  EXPECT_EQ(response.entries(1).results(), 2);
  EXPECT_DOUBLE_EQ(response.entries(1).median_score(), 3100);
  EXPECT_DOUBLE_EQ(response.entries(1).best_score(), 3200);
  EXPECT_TRUE(response.next_page_token().empty());

  request.set_sort(v1::LEADERBOARD_SORT_RESULTS);
  ASSERT_TRUE(Leaderboard(request, &response).ok());
  EXPECT_EQ(response.entries(0).gpu(), "NVIDIA GeForce RTX 4090");
  request.set_sort(v1::LEADERBOARD_SORT_NAME);
  ASSERT_TRUE(Leaderboard(request, &response).ok());
  EXPECT_EQ(response.entries(0).gpu(), "CPU: AMD EPYC 9654");

  // Pages of 3: ranks carry on across pages.
  request.set_sort(v1::LEADERBOARD_SORT_MEDIAN_SCORE);
  request.set_page_size(3);
  ASSERT_TRUE(Leaderboard(request, &response).ok());
  EXPECT_EQ(response.entries_size(), 3);
  EXPECT_EQ(response.next_page_token(), "3");
  request.set_page_token(response.next_page_token());
  ASSERT_TRUE(Leaderboard(request, &response).ok());
  ASSERT_EQ(response.entries_size(), 1);
  EXPECT_EQ(response.entries(0).rank(), 4);
  EXPECT_EQ(response.entries(0).gpu(), "CPU: AMD EPYC 9654");
  EXPECT_TRUE(response.next_page_token().empty());

  for (const char* bad : {"abc", "-1", "99", "1e3"}) {
    request.set_page_token(bad);
    EXPECT_EQ(Leaderboard(request, &response).error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << bad;
  }

  // Filters: a case-insensitive GPU substring, and the backend.
  request = v1::GetLeaderboardRequest();
  request.set_gpu_filter("rtx 40");
  ASSERT_TRUE(Leaderboard(request, &response).ok());
  EXPECT_EQ(response.total_entries(), 2);
  request = v1::GetLeaderboardRequest();
  request.set_backend("cpu");
  ASSERT_TRUE(Leaderboard(request, &response).ok());
  ASSERT_EQ(response.entries_size(), 1);
  EXPECT_EQ(response.entries(0).backend(), "cpu");

  // ListGpus: the distinct GPUs with their counts.
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListGpusRequest gpus_request;
  gpus_request.set_suite("v1");
  v1::ListGpusResponse gpus;
  ASSERT_TRUE(stub_->ListGpus(&context, gpus_request, &gpus).ok());
  std::vector<std::string> names;
  for (const v1::GpuSummary& g : gpus.gpus()) names.push_back(g.name());
  EXPECT_THAT(names, ElementsAre("CPU: AMD EPYC 9654", "NVIDIA GeForce RTX 4060",
                                 "NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3"));
  EXPECT_EQ(gpus.gpus(2).results(), 2);

  // A stored envelope that does not parse is reported, not a crash.
  v1::GetResultResponse result;
  EXPECT_EQ(GetResult("id0", &result).error_code(), grpc::StatusCode::DATA_LOSS);
}

TEST_F(CollectorServiceTest, RankedResultsFillTheBoardPerFormatWithSubScoresAndBest) {
  std::vector<std::string> ids;
  for (double speed : {1.0, 2.0, 4.0}) {
    v1::SubmitResponse response;
    ASSERT_TRUE(Submit(V1Request(speed), &response).ok());
    ASSERT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED) << response.message();
    EXPECT_NEAR(response.score(), 1000 * speed * 8 / 12, 1e-6);
    ids.push_back(response.id());
  }
  v1::GetLeaderboardRequest request;
  v1::GetLeaderboardResponse board;
  ASSERT_TRUE(Leaderboard(request, &board).ok());
  ASSERT_EQ(board.entries_size(), 1);
  const v1::LeaderboardEntry& e = board.entries(0);
  EXPECT_EQ(e.gpu(), "CPU: unknown");
  EXPECT_EQ(e.results(), 3);
  EXPECT_NEAR(e.median_score(), 2000 * 8.0 / 12, 1e-6);
  EXPECT_NEAR(e.p25_score(), 1500 * 8.0 / 12, 1e-6);
  EXPECT_NEAR(e.best_score(), 4000 * 8.0 / 12, 1e-6);
  EXPECT_EQ(e.best_result_id(), ids[2]);
  EXPECT_NEAR(e.median_sub_scores().decode(), 2000, 1e-6);
  EXPECT_NEAR(e.median_sub_scores().prefill(), 2000, 1e-6);
  EXPECT_EQ(e.median_sub_scores().speculative(), 0);  // never ran
  EXPECT_NEAR(e.median_sub_scores().capacity(), 8.0 / 12, 1e-12);

  // Ranked by one format: that format's cases alone (2 of its 3 ran).
  request.set_format("Q4_K");
  ASSERT_TRUE(Leaderboard(request, &board).ok());
  ASSERT_EQ(board.entries_size(), 1);
  EXPECT_NEAR(board.entries(0).median_score(), 2000 * 2.0 / 3, 1e-6);
  request.set_format("q5_k");
  EXPECT_EQ(Leaderboard(request, &board).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  v1::GetResultResponse result;
  ASSERT_TRUE(GetResult(ids[0], &result).ok());
  EXPECT_TRUE(result.ranked());
  EXPECT_TRUE(result.flags().empty());
  EXPECT_NEAR(result.sub_scores().latency(), 1000, 1e-6);
}

TEST_F(CollectorServiceTest, AnOutlierIsStoredFlaggedAndKeptOffTheBoard) {
  for (int i = 0; i < kMinOutlierGroup; ++i) {
    v1::SubmitResponse response;
    ASSERT_TRUE(Submit(V1Request(0.9 + 0.02 * i), &response).ok());
    ASSERT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED) << response.message();
  }
  v1::SubmitResponse response;
  ASSERT_TRUE(Submit(V1Request(5), &response).ok());
  EXPECT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED_FLAGGED);
  EXPECT_THAT(response.flags(), ElementsAre("outlier:score"));
  EXPECT_THAT(response.message(), ::testing::HasSubstr("robust standard deviations above"));
  EXPECT_FALSE(response.id().empty());
  v1::GetResultResponse result;
  ASSERT_TRUE(GetResult(response.id(), &result).ok());
  EXPECT_FALSE(result.ranked());
  EXPECT_THAT(result.flags(), ElementsAre("outlier:score"));
  v1::GetLeaderboardResponse board;
  ASSERT_TRUE(Leaderboard(v1::GetLeaderboardRequest(), &board).ok());
  ASSERT_EQ(board.entries_size(), 1);
  EXPECT_EQ(board.entries(0).results(), kMinOutlierGroup);

  // Within the spread is fine.
  ASSERT_TRUE(Submit(V1Request(1.0), &response).ok());
  EXPECT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED);
}

TEST_F(CollectorServiceTest, ABannedKeyIsRejectedAndItsResultsLeaveTheBoard) {
  v1::SubmitResponse response;
  ASSERT_TRUE(Submit(V1Request(1), &response).ok());
  ASSERT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED);
  ASSERT_TRUE(store_->SetBanned(key_->public_key(), true).ok());
  ASSERT_TRUE(Submit(V1Request(1), &response).ok());
  EXPECT_EQ(response.status(), v1::SUBMIT_STATUS_REJECTED);
  EXPECT_EQ(response.reason(), v1::REJECT_REASON_BANNED_KEY);
  EXPECT_THAT(response.message(), ::testing::HasSubstr(key_->Fingerprint()));
  v1::GetLeaderboardResponse board;
  ASSERT_TRUE(Leaderboard(v1::GetLeaderboardRequest(), &board).ok());
  EXPECT_EQ(board.entries_size(), 0);
}

TEST_F(CollectorServiceTest, GpuNamesAreCanonicalAndMemorySizesStayApart) {
  // The same card as two drivers spell it is one row; another memory size is another.
  struct Submission {
    const char* name;
    int64_t memory_bytes;
  };
  const Submission submissions[] = {{"NVIDIA GeForce RTX 4060 Ti", 16ll << 30},
                                    {"GeForce RTX 4060 Ti", 16ll << 30},
                                    {"NVIDIA GeForce RTX 4060 Ti", 8ll << 30},
                                    {"Mystery Accelerator", 12ll << 30}};
  for (const Submission& sub : submissions) {
    v1::RunResult r = QuickResult(v1_, absl::Now());
    r.mutable_backend()->set_name("cuda");
    v1::GpuInfo* gpu = r.mutable_hardware()->add_gpus();
    gpu->set_name(sub.name);
    gpu->set_memory_bytes(sub.memory_bytes - (200ll << 20));  // drivers report a little less
    absl::StatusOr<v1::SignedResult> e = SignRunResult(r, *key_);
    ASSERT_TRUE(e.ok());
    v1::SubmitRequest request;
    *request.mutable_envelope() = *e;
    v1::SubmitResponse response;
    ASSERT_TRUE(Submit(request, &response).ok());
    ASSERT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED) << sub.name << response.message();
  }
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::ListGpusResponse gpus;
  ASSERT_TRUE(stub_->ListGpus(&context, v1::ListGpusRequest(), &gpus).ok());
  ASSERT_EQ(gpus.gpus_size(), 3) << gpus.DebugString();
  std::map<std::string, v1::GpuSummary> by_name;
  for (const v1::GpuSummary& g : gpus.gpus()) by_name[g.name()] = g;
  ASSERT_EQ(by_name.count("NVIDIA GeForce RTX 4060 Ti 16GB"), 1u) << gpus.DebugString();
  EXPECT_EQ(by_name["NVIDIA GeForce RTX 4060 Ti 16GB"].results(), 2);
  EXPECT_TRUE(by_name["NVIDIA GeForce RTX 4060 Ti 16GB"].in_spec_table());
  ASSERT_EQ(by_name.count("NVIDIA GeForce RTX 4060 Ti 8GB"), 1u);
  ASSERT_EQ(by_name.count("Mystery Accelerator (12 GB)"), 1u) << gpus.DebugString();
  EXPECT_FALSE(by_name["Mystery Accelerator (12 GB)"].in_spec_table());
}

grpc::Status Predict(v1::Collector::Stub* stub, const v1::PredictRequest& request,
                     v1::PredictResponse* response) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return stub->Predict(&context, request, response);
}

TEST_F(CollectorServiceTest, PredictFitsStoredResultsAndDerivesGpusWithoutAny) {
  // Two results of an RTX 4090 at twice the reference device: it reads at
  // 2 x 179.2 GB/s and computes at 2 x 20 TFLOP/s (suite v1's reference
  // device: 256 GB/s at 70%, 40 TFLOP/s at 50%).
  for (int i = 0; i < 2; ++i) {
    v1::SubmitResponse response;
    ASSERT_TRUE(
        Submit(V1Request(2, "NVIDIA GeForce RTX 4090", 24ll << 30, 700ll << 20), &response).ok());
    ASSERT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED) << response.message();
  }
  v1::PredictRequest request;
  request.mutable_gpu()->set_name("RTX 4090");
  request.mutable_model()->set_preset("llama-3.1-8b");
  request.set_format("q4_k");
  request.set_context_tokens(8192);
  v1::PredictResponse p;
  grpc::Status s = Predict(stub_.get(), request, &p);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(p.gpu(), "NVIDIA GeForce RTX 4090");
  EXPECT_EQ(p.results(), 2);
  EXPECT_THAT(p.basis(), ::testing::HasSubstr("fit to 2 results of NVIDIA GeForce RTX 4090"));
  EXPECT_TRUE(p.fits());
  EXPECT_EQ(p.memory().kv_cache_bytes(), 1ll << 30);  // 2 x 32 x 8 x 128 x 8192 x 2 bytes
  // The runtime overhead is what the measured peaks show beyond the model.
  EXPECT_EQ(p.memory().overhead_bytes(), 700ll << 20);
  EXPECT_THAT(p.basis(), ::testing::HasSubstr("median of 8 measured peaks on cuda"));
  EXPECT_EQ(p.context_tokens(), 8192);
  const v1::ModelShape shape = [] {
    v1::ModelShape m;
    m.set_vocab_size(128256), m.set_d_model(4096), m.set_n_layers(32), m.set_n_heads(32);
    m.set_n_kv_heads(8), m.set_d_ff(14336);
    return m;
  }();
  const double bytes = *WeightBytesPerToken(shape, "q4_k") + (1ll << 30);
  EXPECT_NEAR(p.decode_tokens_per_second().value(), 2 * 179.2e9 / bytes,
              1e-6 * p.decode_tokens_per_second().value());
  const double flops_per_token = ForwardFlops(shape, 8192, 0) / 8192;
  EXPECT_NEAR(p.prefill_tokens_per_second().value(), 2 * 20e12 / flops_per_token,
              1e-6 * p.prefill_tokens_per_second().value());
  EXPECT_NEAR(p.time_to_first_token_seconds().value(), 8192 / p.prefill_tokens_per_second().value(),
              1e-9);
  EXPECT_TRUE(p.decode_tokens_per_second().error_measured());  // leave one case out, within the GPU

  // An RTX 4080 has no results: the 4090's efficiency (family ada) times its figures.
  request.mutable_gpu()->set_name("NVIDIA GeForce RTX 4080");
  s = Predict(stub_.get(), request, &p);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(p.results(), 0);
  EXPECT_THAT(p.basis(), ::testing::HasSubstr("family ada (1 GPUs"));
  const HardwareSpec* ada4080 = MatchHardware("NVIDIA GeForce RTX 4080", 16ll << 30);
  ASSERT_NE(ada4080, nullptr);
  const HardwareSpec* ada4090 = MatchHardware("NVIDIA GeForce RTX 4090", 24ll << 30);
  EXPECT_NEAR(p.decode_tokens_per_second().value(),
              2 * 179.2e9 / ada4090->memory_bandwidth * ada4080->memory_bandwidth / bytes,
              1e-6 * p.decode_tokens_per_second().value());

  // A 70B model at F16 does not fit in 16 GiB; explicit figures work too.
  request.mutable_model()->set_preset("llama-3.1-70b");
  request.set_format("f16");
  ASSERT_TRUE(Predict(stub_.get(), request, &p).ok());
  EXPECT_FALSE(p.fits());
  EXPECT_GT(p.memory().total_bytes(), p.gpu_memory_bytes());
  request.mutable_gpu()->mutable_figures()->set_memory_bytes(200ll << 30);
  request.mutable_gpu()->mutable_figures()->set_memory_bandwidth(2e12);
  request.mutable_gpu()->mutable_figures()->set_fp16_flops(500e12);
  ASSERT_TRUE(Predict(stub_.get(), request, &p).ok());
  EXPECT_TRUE(p.fits());
  EXPECT_EQ(p.gpu(), "custom");

  // Errors name what was wrong.
  request.mutable_gpu()->set_name("RTX 9999");
  s = Predict(stub_.get(), request, &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("give its figures"));
  request.mutable_gpu()->set_name("RTX 4090");
  request.mutable_model()->set_preset("llama-9");
  s = Predict(stub_.get(), request, &p);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_THAT(s.error_message(), ::testing::HasSubstr("llama-3.1-8b"));
  request.mutable_model()->set_preset("llama-3.1-8b");
  request.set_format("q5_k");
  EXPECT_EQ(Predict(stub_.get(), request, &p).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(CollectorServiceTest, CustomModelResultsAreStoredUnrankedAndCalibratePredictions) {
  // A person's own GGUF (the target-7b shape at q8_0) on an L40S at 3x the reference.
  v1::RunResult full = QuickResult(v1_, absl::Now(), 3);
  v1::RunResult r = full;
  r.clear_cases();
  for (const v1::CaseResult& c : full.cases()) {
    if (c.format() == "q8_0") *r.add_cases() = c;
  }
  r.mutable_model()->set_custom(true);
  r.mutable_model()->set_file_format("q8_0");
  *r.mutable_model()->mutable_shape() = *FindModel(v1_.spec, "target-7b");
  r.mutable_backend()->set_name("cuda");
  v1::GpuInfo* g = r.mutable_hardware()->add_gpus();
  g->set_name("NVIDIA L40S");
  g->set_memory_bytes(48ll << 30);
  absl::StatusOr<v1::SignedResult> e = SignRunResult(r, *key_);
  ASSERT_TRUE(e.ok());
  v1::SubmitRequest submit;
  *submit.mutable_envelope() = *e;
  v1::SubmitResponse response;
  ASSERT_TRUE(Submit(submit, &response).ok());
  ASSERT_EQ(response.status(), v1::SUBMIT_STATUS_ACCEPTED) << response.message();
  v1::GetResultResponse stored;
  ASSERT_TRUE(GetResult(response.id(), &stored).ok());
  EXPECT_FALSE(stored.ranked());
  EXPECT_THAT(stored.flags(), ElementsAre("custom-model"));
  v1::GetLeaderboardResponse board;
  ASSERT_TRUE(Leaderboard(v1::GetLeaderboardRequest(), &board).ok());
  EXPECT_EQ(board.entries_size(), 0);

  v1::PredictRequest request;
  request.mutable_gpu()->set_name("L40S");
  request.mutable_model()->set_preset("mistral-7b");
  request.set_format("q4_k");
  v1::PredictResponse p;
  const grpc::Status s = Predict(stub_.get(), request, &p);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(p.results(), 1);
  EXPECT_THAT(p.basis(), ::testing::HasSubstr("fit to 1 results of NVIDIA L40S"));
  const v1::ModelShape& mistral = FindModelPreset("mistral-7b")->shape;
  const double bytes = *WeightBytesPerToken(mistral, "q4_k") + KvBytesPerToken(mistral) * 4096;
  EXPECT_NEAR(p.decode_tokens_per_second().value(), 3 * 179.2e9 / bytes,
              1e-6 * p.decode_tokens_per_second().value());
}

// Records what the service reports.
class RecordingObserver : public ServiceObserver {
 public:
  void OnSubmit(v1::SubmitStatus status, v1::RejectReason reason, double seconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    submits.push_back(status);
    EXPECT_GE(seconds, 0);
  }
  void OnRpc(std::string_view method, grpc::StatusCode code, double seconds) override {
    std::lock_guard<std::mutex> lock(mu_);
    rpcs.push_back(std::string(method) + ":" + std::to_string(code));
  }
  void OnRateLimited(std::string_view by) override {
    std::lock_guard<std::mutex> lock(mu_);
    limited.push_back(std::string(by));
  }
  std::vector<v1::SubmitStatus> submits;
  std::vector<std::string> rpcs;
  std::vector<std::string> limited;

 private:
  std::mutex mu_;
};

TEST_F(CollectorServiceTest, RateLimitsPerPeerAndPerKeyAnswerResourceExhausted) {
  RecordingObserver observer;
  ServiceOptions options;
  options.per_peer = RateLimit{0.001, 3};  // 3 calls, then one per 1000 s
  options.observer = &observer;
  StartServer(options);
  v1::SubmitResponse response;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(Submit(V1Request(1), &response).ok()) << i;
  }
  grpc::Status refused = Submit(V1Request(1), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("this address; retry in"));

  options.per_peer = RateLimit{};
  options.per_key = RateLimit{0.001, 2};
  StartServer(options);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(Submit(V1Request(1), &response).ok()) << i;
  refused = Submit(V1Request(1), &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(refused.error_message(), ::testing::HasSubstr("this key"));
  // Another key is not limited by the first one's bucket.
  absl::StatusOr<KeyPair> other = KeyPair::Generate();
  ASSERT_TRUE(other.ok());
  key_ = std::make_unique<KeyPair>(*other);
  ASSERT_TRUE(Submit(V1Request(1), &response).ok());

  EXPECT_THAT(observer.limited, ElementsAre("peer", "key"));
  EXPECT_EQ(observer.submits.size(), 6u);  // the refused calls are RPC errors, not submissions
  EXPECT_EQ(observer.rpcs.size(), 8u);
  EXPECT_EQ(observer.rpcs[3], "Submit:" + std::to_string(grpc::StatusCode::RESOURCE_EXHAUSTED));
}

// A flood from one key, 16 threads at once, gets no more through than the
// bucket allows: its burst plus its rate over the flood's length.
TEST_F(CollectorServiceTest, RateLimitHoldsUnderAFloodFromOneKey) {
  ServiceOptions options;
  options.per_key = RateLimit{20, 10};  // 20 per second, bursts of 10
  StartServer(options);
  constexpr int kThreads = 16, kEach = 25;
  std::vector<v1::SubmitRequest> requests;
  for (int i = 0; i < kThreads * kEach; ++i) requests.push_back(V1Request(1 + 0.0001 * i));
  std::atomic<int> accepted{0}, limited{0}, other{0};
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        v1::SubmitResponse response;
        const grpc::Status s = Submit(requests[t * kEach + i], &response);
        if (s.ok() && response.status() == v1::SUBMIT_STATUS_ACCEPTED) {
          ++accepted;
        } else if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
          ++limited;
        } else {
          ++other;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(accepted + limited, kThreads * kEach);
  EXPECT_GE(accepted.load(), 10);  // the burst
  EXPECT_LE(accepted.load(), 10 + static_cast<int>(std::ceil(20 * seconds)) + 1)
      << "over " << seconds << " s";
}

}  // namespace
}  // namespace aiscore::collector
