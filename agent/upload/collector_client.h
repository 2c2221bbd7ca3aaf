// A client of the collector's gRPC service (proto/aiscore/v1/collector.proto).
//
// Every call carries a deadline (CollectorOptions::deadline, per attempt). A
// call that fails with UNAVAILABLE or DEADLINE_EXCEEDED, the failures that a
// later try may not have, is tried again up to max_attempts times in all,
// after an exponential backoff with full jitter: before try n+1 it sleeps a
// uniformly random time in [0, min(max_backoff, initial_backoff * 2^(n-1))].
// Any other error is returned at once. Retrying is safe for every method:
// the reads have no effect and Submit is idempotent (the collector answers a
// repeated nonce with DUPLICATE and the first id).
//
// Errors keep gRPC's canonical code and read
//   "collector HOST:PORT: Submit: <the collector's message>".
//
// A CollectorClient is thread-safe.
#ifndef AISCORE_AGENT_UPLOAD_COLLECTOR_CLIENT_H_
#define AISCORE_AGENT_UPLOAD_COLLECTOR_CLIENT_H_

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aiscore/v1/collector.grpc.pb.h"

namespace aiscore {

// The collector used when none is named: $AISCORE_COLLECTOR, else this.
inline constexpr char kDefaultCollector[] = "localhost:50051";

// $AISCORE_COLLECTOR when set and not empty, else kDefaultCollector.
std::string DefaultCollectorTarget();

struct CollectorOptions {
  bool tls = false;     // TLS with the system's root certificates, or ca_file's
  std::string ca_file;  // PEM root certificates for TLS; empty: the system's
  std::chrono::milliseconds deadline{30000};       // per attempt
  int max_attempts = 5;                            // tries per call, at least 1
  std::chrono::milliseconds initial_backoff{500};  // before the second try, at most
  std::chrono::milliseconds max_backoff{10000};    // cap of any one wait
};

// Told of each failed attempt that will be tried again: the attempt's number
// (1 for the first) and its error.
using CollectorAttemptObserver = std::function<void(int attempt, const absl::Status& status)>;

class CollectorClient {
 public:
  // A client of the collector at `target` ("HOST:PORT"). InvalidArgument for
  // an empty target or bad options, NotFound / PermissionDenied when ca_file
  // cannot be read. Connects lazily, on the first call.
  static absl::StatusOr<std::unique_ptr<CollectorClient>> Create(const std::string& target,
                                                                 const CollectorOptions& options);

  absl::StatusOr<aiscore::v1::SubmitResponse> Submit(const aiscore::v1::SubmitRequest& request);
  absl::StatusOr<aiscore::v1::GetLeaderboardResponse> GetLeaderboard(
      const aiscore::v1::GetLeaderboardRequest& request);
  absl::StatusOr<aiscore::v1::GetResultResponse> GetResult(
      const aiscore::v1::GetResultRequest& request);
  absl::StatusOr<aiscore::v1::ListGpusResponse> ListGpus(
      const aiscore::v1::ListGpusRequest& request);
  absl::StatusOr<aiscore::v1::PredictResponse> Predict(const aiscore::v1::PredictRequest& request);

  // Sets the observer of retried attempts (progress messages); it must be
  // thread-safe when calls are made from several threads. Not thread-safe
  // itself: set it before the first call.
  void set_retry_observer(CollectorAttemptObserver observer) { observer_ = std::move(observer); }

  const std::string& target() const { return target_; }

 private:
  CollectorClient(std::string target, const CollectorOptions& options,
                  std::unique_ptr<aiscore::v1::Collector::Stub> stub);

  // Runs `rpc` (one attempt on a fresh context) with the retry policy.
  template <typename Response>
  absl::StatusOr<Response> Call(
      const char* method, const std::function<grpc::Status(grpc::ClientContext*, Response*)>& rpc);

  const std::string target_;
  const CollectorOptions options_;
  std::unique_ptr<aiscore::v1::Collector::Stub> stub_;
  CollectorAttemptObserver observer_;
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_UPLOAD_COLLECTOR_CLIENT_H_
