#include "collector/service/collector_service.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "agent/sign/key_pair.h"
#include "suites/suite_loader.h"

namespace aiscore::collector {
namespace {

// absl and gRPC share the canonical status codes, number for number.
grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// 16 lower-case hex characters from the system's random source.
std::string NewResultId() {
  std::random_device rd;
  std::string id;
  for (int i = 0; i < 2; ++i) absl::StrAppend(&id, absl::StrFormat("%08x", uint32_t{rd()}));
  return id;
}

std::string GpuName(const v1::RunResult& result) {
  if (result.hardware().gpus_size() > 0) return result.hardware().gpus(0).name();
  return "CPU: " + result.hardware().cpu().model();
}

// Orders leaderboard rows; ties fall back to GPU name, then backend, so pages
// are stable.
bool Before(const LeaderboardRow& a, const LeaderboardRow& b, v1::LeaderboardSort sort) {
  switch (sort) {
    case v1::LEADERBOARD_SORT_BEST_SCORE:
      if (a.best != b.best) return a.best > b.best;
      break;
    case v1::LEADERBOARD_SORT_RESULTS:
      if (a.count != b.count) return a.count > b.count;
      break;
    case v1::LEADERBOARD_SORT_NAME:
      break;
    default:  // UNSPECIFIED, MEDIAN_SCORE and values this build does not know
      if (a.median != b.median) return a.median > b.median;
      break;
  }
  if (a.gpu != b.gpu) return a.gpu < b.gpu;
  return a.backend < b.backend;
}

}  // namespace

void ApplyServerLimits(grpc::ServerBuilder* builder) {
  grpc::ResourceQuota quota("aiscore-collector");
  quota.SetMaxThreads(kMaxServerThreads);
  builder->SetResourceQuota(quota);
  builder->SetMaxReceiveMessageSize(kMaxReceiveBytes);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                              kMinPingIntervalMs);
  builder->AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, kMaxPingStrikes);
  builder->AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, kMaxConcurrentStreams);
}

StoredResult MakeStoredResult(const v1::SignedResult& envelope, const Verdict& verdict,
                              int64_t received_us) {
  const v1::RunResult& r = verdict.result;
  StoredResult s;
  s.id = NewResultId();
  s.nonce = r.nonce();
  s.public_key = envelope.public_key();
  s.suite = r.suite().name();
  s.suite_sha256 = r.suite().sha256();
  s.received_us = received_us;
  s.gpu = GpuName(r);
  s.backend = r.backend().name();
  s.score = verdict.score.score;
  s.status = "accepted";
  s.ranked = verdict.ranked;
  s.envelope = envelope.SerializeAsString();  // payload verbatim; see the header
  for (const v1::CaseResult& c : r.cases()) {
    for (const v1::Measurement& m : c.measurements()) {
      s.cases.push_back(StoredCase{c.name(), m.name(), m.median()});
    }
  }
  return s;
}

CollectorService::CollectorService(ResultStore* store, const SubmissionVerifier* verifier)
    : store_(store), verifier_(verifier) {}

grpc::Status CollectorService::Submit(grpc::ServerContext*, const v1::SubmitRequest* request,
                                      v1::SubmitResponse* response) {
  if (!request->has_envelope()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the request carries no envelope");
  }
  const absl::Time now = absl::Now();
  Verdict verdict = verifier_->Verify(request->envelope(), now);
  if (!verdict.accepted) {
    response->set_status(v1::SUBMIT_STATUS_REJECTED);
    response->set_reason(verdict.reason);
    response->set_message(verdict.message);
    return grpc::Status::OK;
  }
  const StoredResult stored =
      MakeStoredResult(request->envelope(), verdict, absl::ToUnixMicros(now));
  absl::StatusOr<InsertOutcome> outcome = store_->Insert(stored);
  if (!outcome.ok()) return ToGrpc(outcome.status());
  response->set_id(outcome->id);
  response->set_status(outcome->inserted ? v1::SUBMIT_STATUS_ACCEPTED
                                         : v1::SUBMIT_STATUS_DUPLICATE);
  response->set_score(verdict.score.score);
  return grpc::Status::OK;
}

grpc::Status CollectorService::GetLeaderboard(grpc::ServerContext*,
                                              const v1::GetLeaderboardRequest* request,
                                              v1::GetLeaderboardResponse* response) {
  const std::string suite = request->suite().empty() ? "v1" : request->suite();
  if (request->page_size() < 0) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_size must not be negative");
  }
  const int64_t page_size =
      request->page_size() == 0 ? kDefaultPageSize : std::min(request->page_size(), kMaxPageSize);
  int64_t offset = 0;
  if (!request->page_token().empty() &&
      (!absl::SimpleAtoi(request->page_token(), &offset) || offset < 0)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "page_token is not one this collector issued");
  }

  absl::StatusOr<std::vector<LeaderboardRow>> rows = store_->Leaderboard(suite);
  if (!rows.ok()) return ToGrpc(rows.status());
  const std::string gpu_filter = absl::AsciiStrToLower(request->gpu_filter());
  std::vector<LeaderboardRow> kept;
  for (LeaderboardRow& row : *rows) {
    if (!gpu_filter.empty() && !absl::StrContains(absl::AsciiStrToLower(row.gpu), gpu_filter)) {
      continue;
    }
    if (!request->backend().empty() && !absl::EqualsIgnoreCase(row.backend, request->backend())) {
      continue;
    }
    kept.push_back(std::move(row));
  }
  const v1::LeaderboardSort sort = request->sort();
  std::sort(kept.begin(), kept.end(), [sort](const LeaderboardRow& a, const LeaderboardRow& b) {
    return Before(a, b, sort);
  });

  const int64_t total = static_cast<int64_t>(kept.size());
  if (offset > total) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        "page_token is past the last row of this leaderboard");
  }
  response->set_suite(suite);
  response->set_total_entries(total);
  const int64_t end = std::min(total, offset + page_size);
  for (int64_t i = offset; i < end; ++i) {
    const LeaderboardRow& row = kept[i];
    v1::LeaderboardEntry* e = response->add_entries();
    e->set_rank(static_cast<int32_t>(i + 1));
    e->set_gpu(row.gpu);
    e->set_backend(row.backend);
    e->set_results(row.count);
    e->set_median_score(row.median);
    e->set_p25_score(row.p25);
    e->set_p75_score(row.p75);
    e->set_best_score(row.best);
  }
  if (end < total) response->set_next_page_token(absl::StrCat(end));
  return grpc::Status::OK;
}

grpc::Status CollectorService::GetResult(grpc::ServerContext*, const v1::GetResultRequest* request,
                                         v1::GetResultResponse* response) {
  absl::StatusOr<StoredResult> stored = store_->GetById(request->id());
  if (!stored.ok()) return ToGrpc(stored.status());
  v1::SignedResult envelope;
  if (!envelope.ParseFromString(stored->envelope) ||
      !response->mutable_result()->ParseFromString(envelope.payload())) {
    return grpc::Status(grpc::StatusCode::DATA_LOSS,
                        absl::StrCat("the stored envelope of ", request->id(), " does not parse"));
  }
  response->set_id(stored->id);
  response->set_score(stored->score);
  response->set_ranked(stored->ranked);
  const absl::Time received = absl::FromUnixMicros(stored->received_us);
  response->mutable_received_at()->set_seconds(absl::ToUnixSeconds(received));
  response->mutable_received_at()->set_nanos(
      static_cast<int32_t>((stored->received_us % 1000000 + 1000000) % 1000000 * 1000));
  response->set_public_key_fingerprint(KeyFingerprint(stored->public_key));
  return grpc::Status::OK;
}

grpc::Status CollectorService::ListGpus(grpc::ServerContext*, const v1::ListGpusRequest* request,
                                        v1::ListGpusResponse* response) {
  const std::vector<std::string> suites =
      request->suite().empty() ? BuiltInSuiteNames() : std::vector<std::string>{request->suite()};
  std::map<std::string, int64_t> counts;  // GPU name -> ranked results, over backends and suites
  for (const std::string& suite : suites) {
    absl::StatusOr<std::vector<LeaderboardRow>> rows = store_->Leaderboard(suite);
    if (!rows.ok()) return ToGrpc(rows.status());
    for (const LeaderboardRow& row : *rows) counts[row.gpu] += row.count;
  }
  for (const auto& [name, count] : counts) {
    v1::GpuSummary* g = response->add_gpus();
    g->set_name(name);
    g->set_results(count);
  }
  return grpc::Status::OK;
}

grpc::Status CollectorService::Predict(grpc::ServerContext*, const v1::PredictRequest*,
                                       v1::PredictResponse*) {
  return grpc::Status(grpc::StatusCode::UNIMPLEMENTED, kPredictUnimplemented);
}

}  // namespace aiscore::collector
