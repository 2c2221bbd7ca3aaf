// CollectorMetrics: the collector's operational metrics, rendered in the
// Prometheus text exposition format 0.0.4 for GET /metrics (http_server.h).
//
// Series (all names start with "aiscore_"; docs/collector.md lists them):
//   submissions_total{outcome,reason}   counter: Submit answers by outcome
//                                        ("accepted", "accepted_flagged",
//                                        "duplicate", "rejected",
//                                        "unspecified") and, for rejections,
//                                        the RejectReason's short name
//                                        ("signature", "implausible", ...);
//                                        "none" otherwise
//   submit_duration_seconds             histogram: Submit's verify + store time
//   rpc_total{method,code}              counter: RPCs by method and gRPC code
//                                        name ("OK", "INVALID_ARGUMENT", ...)
//   rpc_duration_seconds{method}        histogram: RPC handler time
//   rate_limited_total{by}              counter: requests refused by the rate
//                                        limiter, by "key" or "peer"
//   database_bytes, results_stored      gauges read through callbacks at render
//   uptime_seconds                      gauge: seconds since construction
//   build_info{version}                 gauge: always 1
// Methods are Submit, GetLeaderboard, GetResult, ListGpus, Predict; any other
// string counts as "other", an unknown gRPC code as "UNKNOWN", an unknown
// rate-limit dimension as "other". Label values never come from the caller's
// strings verbatim: every series exists from construction (a fixed label set,
// zero until recorded), so a scrape always sees the same series.
//
// Histogram buckets (seconds, upper bounds, inclusive): kDurationBucketBounds.
// A negative or NaN duration counts as 0; +Inf lands in the +Inf bucket (its
// sum contribution is capped at kMaxSummedSeconds).
//
// Thread-safety: Record* are lock-free (relaxed atomic increments into
// pre-created cells, no allocation, no map lookup) and may be called from any
// number of threads at once, also while RenderPrometheus runs. A render reads
// each cell once; counts recorded during it may or may not appear, and a
// histogram's _count always equals its +Inf bucket. The gauge callbacks run on
// the rendering thread (a /metrics request) and must be safe to call from it.
//
// Ownership: owns its counters and the callbacks given at construction.
#ifndef AISCORE_COLLECTOR_HTTP_COLLECTOR_METRICS_H_
#define AISCORE_COLLECTOR_HTTP_COLLECTOR_METRICS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "aiscore/v1/collector.pb.h"

namespace aiscore::collector {

// Upper bounds of the duration histograms' buckets, in seconds, and their
// `le` label values (Go's shortest float formatting, as client_golang writes).
inline constexpr std::array<double, 14> kDurationBucketBounds = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
inline constexpr std::array<std::string_view, 14> kDurationBucketLabels = {
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
    "0.1",    "0.25",  "0.5",    "1",     "2.5",  "5",     "10"};

// The largest duration one observation adds to a histogram's _sum, in seconds.
inline constexpr double kMaxSummedSeconds = 1e6;

// The RPC methods with series of their own, in render order; "other" follows.
inline constexpr std::array<std::string_view, 5> kRpcMethods = {"Submit", "GetLeaderboard",
                                                                "GetResult", "ListGpus", "Predict"};

// gRPC's canonical status code names, indexed by code (0 to 16).
inline constexpr std::array<std::string_view, 17> kGrpcCodeNames = {
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
};

// A RejectReason's label: its enum name without "REJECT_REASON_", lower-case
// ("signature", "banned_key", "unspecified"); "unspecified" for a value the
// enum does not define.
std::string RejectReasonLabel(v1::RejectReason reason);

class CollectorMetrics {
 public:
  // A gauge's current value, read at each render. An error omits the gauge's
  // sample from that render (its HELP and TYPE lines stay).
  using GaugeCallback = std::function<absl::StatusOr<double>()>;

  struct Options {
    std::string version;           // build_info's label, e.g. "0.1.0 (3f2a9c1e0b7d)"
    GaugeCallback database_bytes;  // SQLite main file + WAL, bytes; empty: no sample
    GaugeCallback results_stored;  // stored results; empty: no sample
  };

  explicit CollectorMetrics(Options options);
  CollectorMetrics() : CollectorMetrics(Options{}) {}

  CollectorMetrics(const CollectorMetrics&) = delete;
  CollectorMetrics& operator=(const CollectorMetrics&) = delete;

  // One Submit answer: its status, its reject reason (read only when status is
  // REJECTED) and the seconds spent verifying and storing it.
  void RecordSubmit(v1::SubmitStatus status, v1::RejectReason reason, double seconds);

  // One finished RPC: its method name (see kRpcMethods), its gRPC status code
  // (grpc::StatusCode as an int) and its handler time in seconds.
  void RecordRpc(std::string_view method, int grpc_status_code, double seconds);

  // One request the rate limiter refused; `by` is "key" or "peer".
  void RecordRateLimited(std::string_view by);

  // Every series in the text exposition format 0.0.4, one family after
  // another, each with its HELP and TYPE lines; ends with a newline.
  std::string RenderPrometheus() const;

 private:
  // A histogram of durations: per-bucket (not cumulative) counts, the +Inf
  // bucket last, and the sum in nanoseconds.
  struct Histogram {
    void Observe(double seconds);
    std::array<std::atomic<uint64_t>, kDurationBucketBounds.size() + 1> buckets{};
    std::atomic<uint64_t> sum_nanos{0};
  };

  static constexpr int kSubmitStatuses = v1::SubmitStatus_ARRAYSIZE;
  static constexpr int kRejectReasons = v1::RejectReason_ARRAYSIZE;
  static constexpr int kMethodSlots = kRpcMethods.size() + 1;  // + "other"
  static constexpr int kRateLimitSlots = 3;                    // key, peer, other

  const Options options_;
  const std::chrono::steady_clock::time_point start_;
  const std::array<std::string, kRejectReasons> reason_labels_;

  // Not rejected: [status] (reason "none"). Rejected: [reason].
  std::array<std::atomic<uint64_t>, kSubmitStatuses> submissions_{};
  std::array<std::atomic<uint64_t>, kRejectReasons> rejections_{};
  Histogram submit_duration_;
  std::array<std::array<std::atomic<uint64_t>, kGrpcCodeNames.size()>, kMethodSlots> rpcs_{};
  std::array<Histogram, kMethodSlots> rpc_duration_;
  std::array<std::atomic<uint64_t>, kRateLimitSlots> rate_limited_{};
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_HTTP_COLLECTOR_METRICS_H_
