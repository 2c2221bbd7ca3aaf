// CollectorService: the gRPC Collector service (proto/aiscore/v1/collector.proto)
// over a ResultStore and a SubmissionVerifier.
//
// Submit verifies the envelope with the verifier at absl::Now(), stores an
// accepted result and answers with the collector's score; a rejection is an OK
// RPC whose response says REJECTED and why (nothing is stored); a nonce stored
// before is DUPLICATE with the first id. The stored envelope is the request's
// SignedResult re-serialized (generated stubs never see the request's wire
// bytes); its payload field, the bytes the agent signed, is kept verbatim, so
// the stored envelope still verifies.
//
// GetLeaderboard reads the store's per-(gpu, backend) aggregates of a suite,
// filters, sorts and pages them (page_token: decimal offset of the first row).
// GetResult parses the stored envelope's payload. ListGpus lists the distinct
// GPUs of the leaderboard groups (ranked results only). Predict is not
// implemented yet (UNIMPLEMENTED).
//
// Not filled yet, since the store does not keep them: the leaderboard's
// `format` filter (rows aggregate every format), median_sub_scores and
// best_result_id; GetResult's sub_scores and flags; ListGpus' spec-table match.
//
// Expected failures become grpc::Status values; no input makes a handler crash.
//
// Ownership and thread-safety: borrows the store and the verifier, which must
// outlive it; every handler may run on any number of server threads at once.
#ifndef AISCORE_COLLECTOR_SERVICE_COLLECTOR_SERVICE_H_
#define AISCORE_COLLECTOR_SERVICE_COLLECTOR_SERVICE_H_

#include <grpcpp/grpcpp.h>

#include <string>

#include "aiscore/v1/collector.grpc.pb.h"
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

// Applies the limits above to a server under construction: a resource quota
// capping threads, the receive size (a larger request fails with
// RESOURCE_EXHAUSTED), keepalive enforcement and the stream cap.
void ApplyServerLimits(grpc::ServerBuilder* builder);

// The message of Predict's UNIMPLEMENTED status.
inline constexpr char kPredictUnimplemented[] = "prediction arrives with the calibration issue";

// The StoredResult for an accepted verdict: a new random id (16 lower-case hex
// characters), the result's nonce, key, suite, GPU (the first GPU's name, or
// "CPU: " + the CPU model when none), backend, score, ranked, the envelope
// (re-serialized, payload verbatim) and every measurement's median.
// `received_us`: microseconds since the Unix epoch.
StoredResult MakeStoredResult(const v1::SignedResult& envelope, const Verdict& verdict,
                              int64_t received_us);

class CollectorService final : public v1::Collector::Service {
 public:
  // `store` and `verifier` are borrowed and must outlive the service.
  CollectorService(ResultStore* store, const SubmissionVerifier* verifier);

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

 private:
  ResultStore* const store_;
  const SubmissionVerifier* const verifier_;
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_SERVICE_COLLECTOR_SERVICE_H_
