#include "collector/service/collector_service.h"

#include <algorithm>
#include <cstdint>
#include <map>
#include <optional>
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
#include "collector/service/outlier_check.h"
#include "collector/service/stored_result.h"
#include "scoring/hardware_table.h"
#include "suites/suite_loader.h"

namespace aiscore::collector {
namespace {

// absl and gRPC share the canonical status codes, number for number.
grpc::Status ToGrpc(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()), std::string(s.message()));
}

// Seconds since `start`.
double SecondsSince(absl::Time start) { return absl::ToDoubleSeconds(absl::Now() - start); }

void SetSubScores(const SubScoreValues& v, v1::SubScores* out) {
  out->set_prefill(v.prefill);
  out->set_decode(v.decode);
  out->set_latency(v.latency);
  out->set_long_context(v.long_context);
  out->set_speculative(v.speculative);
  out->set_capacity(v.capacity);
}

grpc::Status RateLimited(std::string_view what, absl::Duration retry_after) {
  return grpc::Status(
      grpc::StatusCode::RESOURCE_EXHAUSTED,
      absl::StrCat("too many submissions from this ", std::string(what), "; retry in ",
                   absl::FormatDuration(absl::Ceil(retry_after, absl::Milliseconds(1)))));
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

CollectorService::CollectorService(ResultStore* store, const SubmissionVerifier* verifier,
                                   ServiceOptions options)
    : store_(store),
      verifier_(verifier),
      observer_(options.observer),
      per_peer_(options.per_peer),
      resolve_peer_(std::move(options.resolve_peer)),
      per_key_(options.per_key),
      predictor_(store) {}

grpc::Status CollectorService::Submit(grpc::ServerContext* context,
                                      const v1::SubmitRequest* request,
                                      v1::SubmitResponse* response) {
  const absl::Time start = absl::Now();
  grpc::Status status = Observed("Submit", [&] { return DoSubmit(context, request, response); });
  if (observer_ != nullptr && status.ok()) {
    observer_->OnSubmit(response->status(), response->reason(), SecondsSince(start));
  }
  return status;
}

template <typename Handler>
grpc::Status CollectorService::Observed(std::string_view method, Handler handler) {
  const absl::Time start = absl::Now();
  grpc::Status status = handler();
  if (observer_ != nullptr) observer_->OnRpc(method, status.error_code(), SecondsSince(start));
  return status;
}

grpc::Status CollectorService::GetLeaderboard(grpc::ServerContext* context,
                                              const v1::GetLeaderboardRequest* request,
                                              v1::GetLeaderboardResponse* response) {
  return Observed("GetLeaderboard", [&] { return DoGetLeaderboard(context, request, response); });
}

grpc::Status CollectorService::GetResult(grpc::ServerContext* context,
                                         const v1::GetResultRequest* request,
                                         v1::GetResultResponse* response) {
  return Observed("GetResult", [&] { return DoGetResult(context, request, response); });
}

grpc::Status CollectorService::ListGpus(grpc::ServerContext* context,
                                        const v1::ListGpusRequest* request,
                                        v1::ListGpusResponse* response) {
  return Observed("ListGpus", [&] { return DoListGpus(context, request, response); });
}

grpc::Status CollectorService::Predict(grpc::ServerContext* context,
                                       const v1::PredictRequest* request,
                                       v1::PredictResponse* response) {
  return Observed("Predict", [&] { return DoPredict(context, request, response); });
}

grpc::Status CollectorService::DoSubmit(grpc::ServerContext* context,
                                        const v1::SubmitRequest* request,
                                        v1::SubmitResponse* response) {
  absl::Duration retry_after;
  const std::string peer =
      resolve_peer_ ? resolve_peer_(context->peer()) : std::string(context->peer());
  if (!per_peer_.Allow(PeerHost(peer), &retry_after)) {
    if (observer_ != nullptr) observer_->OnRateLimited("peer");
    return RateLimited("address", retry_after);
  }
  if (!request->has_envelope()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the request carries no envelope");
  }
  const absl::Time now = absl::Now();
  Verdict verdict = verifier_->Verify(request->envelope(), now);
  auto reject = [response](v1::RejectReason reason, std::string message) {
    response->set_status(v1::SUBMIT_STATUS_REJECTED);
    response->set_reason(reason);
    response->set_message(std::move(message));
    return grpc::Status::OK;
  };
  if (!verdict.accepted) return reject(verdict.reason, verdict.message);
  const std::string& key = request->envelope().public_key();
  if (!per_key_.Allow(key, &retry_after)) {
    if (observer_ != nullptr) observer_->OnRateLimited("key");
    return RateLimited("key", retry_after);
  }
  absl::StatusOr<bool> banned = store_->IsBanned(key);
  if (!banned.ok()) return ToGrpc(banned.status());
  if (*banned) {
    return reject(v1::REJECT_REASON_BANNED_KEY,
                  absl::StrCat("key ", KeyFingerprint(key), " is banned on this collector"));
  }

  std::string outlier;  // why the result is an outlier; empty when it is not
  StoredResult stored = MakeStoredResult(request->envelope(), verdict, absl::ToUnixMicros(now));
  if (stored.ranked()) {
    absl::StatusOr<std::optional<LeaderboardRow>> group =
        store_->Group(stored.suite, "", stored.gpu, stored.backend);
    if (!group.ok()) return ToGrpc(group.status());
    if (group->has_value()) outlier = OutlierReason(stored.score, **group);
    if (!outlier.empty()) {
      stored.flags |= kFlagOutlier;
      stored.status = "accepted_flagged";
    }
  }
  absl::StatusOr<InsertOutcome> outcome = store_->Insert(stored);
  if (!outcome.ok()) return ToGrpc(outcome.status());
  response->set_id(outcome->id);
  response->set_score(verdict.score.score);
  if (!outcome->inserted) {
    response->set_status(v1::SUBMIT_STATUS_DUPLICATE);
    return grpc::Status::OK;
  }
  if (outlier.empty()) {
    response->set_status(v1::SUBMIT_STATUS_ACCEPTED);
    return grpc::Status::OK;
  }
  response->set_status(v1::SUBMIT_STATUS_ACCEPTED_FLAGGED);
  response->set_message(outlier);
  for (const std::string& name : FlagNames(kFlagOutlier)) response->add_flags(name);
  return grpc::Status::OK;
}

grpc::Status CollectorService::DoGetLeaderboard(grpc::ServerContext*,
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

  const std::string format = absl::AsciiStrToLower(request->format());
  if (!format.empty() && !verifier_->SuiteHasFormat(suite, format)) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        absl::StrCat("suite '", suite, "' has no format '", format, "'"));
  }
  absl::StatusOr<std::vector<LeaderboardRow>> rows = store_->Leaderboard(suite, format);
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
    if (format.empty()) SetSubScores(row.median_sub, e->mutable_median_sub_scores());
    e->set_best_result_id(row.best_result_id);
  }
  if (end < total) response->set_next_page_token(absl::StrCat(end));
  return grpc::Status::OK;
}

grpc::Status CollectorService::DoGetResult(grpc::ServerContext*,
                                           const v1::GetResultRequest* request,
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
  response->set_ranked(stored->ranked());
  for (const StoredScores& scores : stored->scores) {
    if (scores.format.empty()) SetSubScores(scores.sub, response->mutable_sub_scores());
  }
  for (const std::string& flag : FlagNames(stored->flags)) response->add_flags(flag);
  const absl::Time received = absl::FromUnixMicros(stored->received_us);
  response->mutable_received_at()->set_seconds(absl::ToUnixSeconds(received));
  response->mutable_received_at()->set_nanos(
      static_cast<int32_t>((stored->received_us % 1000000 + 1000000) % 1000000 * 1000));
  response->set_public_key_fingerprint(KeyFingerprint(stored->public_key));
  return grpc::Status::OK;
}

grpc::Status CollectorService::DoListGpus(grpc::ServerContext*, const v1::ListGpusRequest* request,
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
    for (const HardwareSpec& row : HardwareTable()) {
      if (row.name != name) continue;
      g->set_in_spec_table(true);
      g->set_spec_row(row.name);
    }
  }
  return grpc::Status::OK;
}

grpc::Status CollectorService::DoPredict(grpc::ServerContext*, const v1::PredictRequest* request,
                                         v1::PredictResponse* response) {
  absl::StatusOr<v1::PredictResponse> prediction = predictor_.Predict(*request);
  if (!prediction.ok()) return ToGrpc(prediction.status());
  *response = *std::move(prediction);
  return grpc::Status::OK;
}

}  // namespace aiscore::collector
