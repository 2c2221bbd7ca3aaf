// Decides whether the collector accepts a submitted envelope, in the order
// the collector checks (collector.proto's RejectReason): payload type,
// signature, payload parses, suite registered (name and SHA-256), every case
// of the suite present, numbers finite, positive and in their units, timestamps
// within the window, physics (a decode rate whose bytes per second exceed
// 1.1 x the device's memory bandwidth, or a prefill above 1.1 x its peak
// compute, is implausible). The score is recomputed here; the client's
// figure is ignored. Nonces (duplicates) and outliers need the store and are
// checked by the service.
//
// Pure: no I/O, no clock of its own. Thread-safe once built.
#ifndef AISCORE_COLLECTOR_VERIFY_SUBMISSION_VERIFIER_H_
#define AISCORE_COLLECTOR_VERIFY_SUBMISSION_VERIFIER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

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
  DeviceLimitsFn device_limits;                       // empty: no physics check
};

struct Verdict {
  bool accepted = false;
  v1::RejectReason reason = v1::REJECT_REASON_UNSPECIFIED;  // when not accepted
  std::string message;                                      // readable: what was wrong, or empty
  v1::RunResult result;                                     // the parsed payload (when it parsed)
  ScoreReport score;                                        // recomputed (zero for custom models)
  bool ranked = false;  // rankable suite, the suite's own models, every case self-checked
};

class SubmissionVerifier {
 public:
  explicit SubmissionVerifier(VerifierOptions options = {});

  // Registers a suite; results must name it by name and SHA-256.
  void RegisterSuite(const LoadedSuite& suite);
  // Registers every built-in suite (suites/suite_loader.h).
  absl::Status RegisterBuiltInSuites();

  Verdict Verify(const v1::SignedResult& envelope, absl::Time now) const;

 private:
  VerifierOptions options_;
  std::map<std::pair<std::string, std::string>, v1::SuiteSpec> suites_;  // (name, sha256) -> spec
};

}  // namespace aiscore

#endif  // AISCORE_COLLECTOR_VERIFY_SUBMISSION_VERIFIER_H_
