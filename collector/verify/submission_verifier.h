// Decides whether the collector accepts a submitted envelope, in the order
// the collector checks (collector.proto's RejectReason): payload type,
// signature, payload parses, suite registered (name and SHA-256), every case
// of the suite present (with the workload and format its name says), numbers
// finite, positive and in their units, timestamps within the window, physics
// (a decode rate whose bytes per second exceed 1.1 x the device's memory
// bandwidth, or a prefill above 1.1 x its peak compute, is implausible). The
// score is recomputed here, and must be a finite number; the client's figure
// is ignored. Nonces (duplicates) and outliers need the store and are checked
// by the service.
//
// Pure: no I/O, no clock of its own. Thread-safe once built.
#ifndef AISCORE_COLLECTOR_VERIFY_SUBMISSION_VERIFIER_H_
#define AISCORE_COLLECTOR_VERIFY_SUBMISSION_VERIFIER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aiscore/v1/collector.pb.h"
#include "aiscore/v1/result.pb.h"
#include "scoring/score.h"
#include "suites/suite_loader.h"

namespace aiscore {

// The most a device can do, for the physics check.
struct DeviceLimits {
  double memory_bandwidth = 0;  // bytes/s
  double peak_flops = 0;        // dense FP16 FLOP/s (CPU: its peak for the kernels used)
};

// Where a result's device limits come from (the hardware spec table); nullopt
// when the device is unknown, which skips the physics check.
using DeviceLimitsFn = std::function<std::optional<DeviceLimits>(const v1::RunResult&)>;

struct VerifierOptions {
  absl::Duration max_age = absl::Hours(24 * 7);       // finished_at at most this old
  absl::Duration max_clock_skew = absl::Minutes(10);  // nor this far in the future
  double physics_margin = 1.1;                        // allowed factor over the device's limits
  // Cases of models whose weights (bytes read per token) are smaller than
  // this skip the physics check: a model that fits in a cache is read at
  // cache speed, not at the memory bandwidth.
  double physics_min_weight_bytes = 0;
  DeviceLimitsFn device_limits;  // empty: no physics check
};

// A result's scores as the collector recomputes them.
struct ResultScores {
  ScoreReport overall;  // over every format; zero for custom models
  // Each format of the suite on its own, in suite order; empty for custom models.
  std::vector<std::pair<std::string, ScoreReport>> by_format;
  bool custom_model = false;    // a person's own GGUF: never ranked
  bool rankable_suite = false;  // the suite is a leaderboard basket
};

struct Verdict {
  bool accepted = false;
  v1::RejectReason reason = v1::REJECT_REASON_UNSPECIFIED;  // when not accepted
  std::string message;                                      // readable: what was wrong, or empty
  v1::RunResult result;                                     // the parsed payload (when it parsed)
  ScoreReport score;                                        // recomputed (zero for custom models)
  std::vector<std::pair<std::string, ScoreReport>> format_scores;  // ResultScores::by_format
  bool custom_model = false;                                       // a person's own GGUF
  bool rankable_suite = false;  // the suite is a leaderboard basket
  bool ranked = false;          // rankable suite, the suite's own models, every case self-checked
};

class SubmissionVerifier {
 public:
  explicit SubmissionVerifier(VerifierOptions options = {});

  // Registers a suite; results must name it by name and SHA-256.
  void RegisterSuite(const LoadedSuite& suite);
  // Registers every built-in suite (suites/suite_loader.h).
  absl::Status RegisterBuiltInSuites();

  Verdict Verify(const v1::SignedResult& envelope, absl::Time now) const;

  // Whether a registered suite named `suite` has `format`.
  bool SuiteHasFormat(std::string_view suite, std::string_view format) const;

  // Scores a result that was verified before (the operator's rescore after a
  // scoring change): NotFound when its suite is not registered,
  // InvalidArgument when the scoring refuses it or a score (overall or of a
  // format) would not be a finite number.
  absl::StatusOr<ResultScores> ScoreResult(const v1::RunResult& result) const;

 private:
  VerifierOptions options_;
  std::map<std::pair<std::string, std::string>, v1::SuiteSpec> suites_;  // (name, sha256) -> spec
};

}  // namespace aiscore

#endif  // AISCORE_COLLECTOR_VERIFY_SUBMISSION_VERIFIER_H_
