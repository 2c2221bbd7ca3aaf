// CollectorService: the gRPC Collector service (proto/aiscore/v1/collector.proto)
// over a ResultStore and a SubmissionVerifier.
//
// Submit, in order: the peer's rate limit (per host, before any work); the
// verifier at absl::Now(); the signer's rate limit (per key, once the
// signature is known good); a banned key is REJECTED with BANNED_KEY;
// then the outlier check against the result's GPU group
// (collector/service/outlier_check.h), which stores the result flagged and
// unranked (ACCEPTED_FLAGGED); then the store. A rejection is an OK RPC whose
// response says REJECTED and why (nothing is stored); a nonce stored before is
// DUPLICATE with the first id; a refused rate limit is RESOURCE_EXHAUSTED
// saying which limit and when to retry.
//
// GetLeaderboard reads the store's groups of a suite and format (every format
// when empty; a format the suite lacks is INVALID_ARGUMENT), filters by GPU
// substring and backend, sorts and pages them (median_sub_scores: on the
// every-format board only) (page_token: decimal offset of
// the first row). GetResult parses the stored envelope's payload and adds the
// collector's sub-scores and flags. ListGpus lists the GPUs of the
// leaderboard groups (ranked results only). Predict answers from a Predictor
// (collector/service/predictor.h) over the same store.
//
// Expected failures become grpc::Status values; no input makes a handler crash.
//
// Ownership and thread-safety: borrows the store, the verifier and the
// observer, which must outlive it; every handler may run on any number of
// server threads at once.
#ifndef AISCORE_COLLECTOR_SERVICE_COLLECTOR_SERVICE_H_
#define AISCORE_COLLECTOR_SERVICE_COLLECTOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <functional>
#include <string>
#include <string_view>

#include "aiscore/v1/collector.grpc.pb.h"
#include "collector/service/predictor.h"
#include "collector/service/rate_limiter.h"
#include "collector/store/result_store.h"
#include "collector/verify/submission_verifier.h"

namespace aiscore::collector {

// Leaderboard paging limits.
inline constexpr int kDefaultPageSize = 25;  // rows when page_size is 0
inline constexpr int kMaxPageSize = 100;     // larger page sizes are clamped to this

// Server limits (DESIGN.md "Scale": one process, bounded work).
inline constexpr int kMaxServerThreads = 64;          // gRPC threads in all
inline constexpr int kMaxReceiveBytes = 1 << 20;      // per message; a SubmitRequest is KiBs
inline constexpr int kMaxConcurrentStreams = 32;      // calls in flight per connection
inline constexpr int kMinPingIntervalMs = 60 * 1000;  // pings without data, at most 1/minute
inline constexpr int kMaxPingStrikes = 2;             // pings beyond that, then GOAWAY
// Open connections (ConnectionListener, which aiscore-collector listens with).
inline constexpr int kMaxConnections = 1024;       // in all
inline constexpr int kMaxConnectionsPerHost = 64;  // from one host (PeerHost)

// Applies the limits above to a server under construction: a resource quota
// capping threads, the receive size (a larger request fails with
// RESOURCE_EXHAUSTED), keepalive enforcement and the stream cap.
void ApplyServerLimits(grpc::ServerBuilder* builder);

// What the service reports as it serves (the collector's metrics implement it).
class ServiceObserver {
 public:
  virtual ~ServiceObserver() = default;
  // One Submit answered OK: its status and, when REJECTED, the reason.
  virtual void OnSubmit(v1::SubmitStatus status, v1::RejectReason reason, double seconds) = 0;
  // Any RPC finished with `code` ("Submit", "GetLeaderboard", ...).
  virtual void OnRpc(std::string_view method, grpc::StatusCode code, double seconds) = 0;
  // A call refused by a rate limit, by "key" or by "peer".
  virtual void OnRateLimited(std::string_view by) = 0;
};

struct ServiceOptions {
  RateLimit per_peer;                   // Submit calls per peer host; disabled by default
  RateLimit per_key;                    // Submit calls per signing key; disabled by default
  ServiceObserver* observer = nullptr;  // borrowed; may be null
  // The address of a call's peer from grpc::ServerContext::peer(), for the
  // per-peer limit (ConnectionListener::Peer); empty: the peer as it is.
  std::function<std::string(std::string_view)> resolve_peer;
};

class CollectorService final : public v1::Collector::Service {
 public:
  // `store` and `verifier` are borrowed and must outlive the service.
  CollectorService(ResultStore* store, const SubmissionVerifier* verifier,
                   ServiceOptions options = {});

  grpc::Status Submit(grpc::ServerContext* context, const v1::SubmitRequest* request,
                      v1::SubmitResponse* response) override;
  grpc::Status GetLeaderboard(grpc::ServerContext* context,
                              const v1::GetLeaderboardRequest* request,
                              v1::GetLeaderboardResponse* response) override;
  grpc::Status GetResult(grpc::ServerContext* context, const v1::GetResultRequest* request,
                         v1::GetResultResponse* response) override;
  grpc::Status ListGpus(grpc::ServerContext* context, const v1::ListGpusRequest* request,
                        v1::ListGpusResponse* response) override;
  grpc::Status Predict(grpc::ServerContext* context, const v1::PredictRequest* request,
                       v1::PredictResponse* response) override;

  // The read RPCs in process, for the web pages and the JSON API
  // (collector/web): the same answers as the RPCs, not counted as RPCs by
  // the observer. Thread-safe like the RPCs.
  grpc::Status ReadLeaderboard(const v1::GetLeaderboardRequest& request,
                               v1::GetLeaderboardResponse* response) {
    return DoGetLeaderboard(nullptr, &request, response);
  }
  grpc::Status ReadResult(const v1::GetResultRequest& request, v1::GetResultResponse* response) {
    return DoGetResult(nullptr, &request, response);
  }
  grpc::Status ReadGpus(const v1::ListGpusRequest& request, v1::ListGpusResponse* response) {
    return DoListGpus(nullptr, &request, response);
  }
  grpc::Status ReadPrediction(const v1::PredictRequest& request, v1::PredictResponse* response) {
    return DoPredict(nullptr, &request, response);
  }

 private:
  // The handlers; the overrides above time them for the observer. Only
  // DoSubmit reads `context` (the peer); the others accept nullptr.
  grpc::Status DoSubmit(grpc::ServerContext* context, const v1::SubmitRequest* request,
                        v1::SubmitResponse* response);
  grpc::Status DoGetLeaderboard(grpc::ServerContext* context,
                                const v1::GetLeaderboardRequest* request,
                                v1::GetLeaderboardResponse* response);
  grpc::Status DoGetResult(grpc::ServerContext* context, const v1::GetResultRequest* request,
                           v1::GetResultResponse* response);
  grpc::Status DoListGpus(grpc::ServerContext* context, const v1::ListGpusRequest* request,
                          v1::ListGpusResponse* response);
  grpc::Status DoPredict(grpc::ServerContext* context, const v1::PredictRequest* request,
                         v1::PredictResponse* response);
  template <typename Handler>
  grpc::Status Observed(std::string_view method, Handler handler);

  ResultStore* const store_;
  const SubmissionVerifier* const verifier_;
  ServiceObserver* const observer_;
  RateLimiter per_peer_;
  std::function<std::string(std::string_view)> resolve_peer_;
  RateLimiter per_key_;
  Predictor predictor_;
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_SERVICE_COLLECTOR_SERVICE_H_
