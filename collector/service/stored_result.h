// From a verified submission to what the store keeps: the StoredResult of an
// accepted verdict, its scores per format, the flags that keep it off the
// leaderboard, and the rescoring of stored results after a scoring change.
//
// Pure functions over their arguments; thread-safe.
#ifndef AISCORE_COLLECTOR_SERVICE_STORED_RESULT_H_
#define AISCORE_COLLECTOR_SERVICE_STORED_RESULT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "aiscore/v1/result.pb.h"
#include "collector/store/result_store.h"
#include "collector/verify/submission_verifier.h"

namespace aiscore::collector {

// The metric name under which a case's measured peak memory (bytes) is
// stored beside its measurements, for the calibration of memory overhead.
inline constexpr char kPeakMemoryMetric[] = "peak_memory_bytes";

// The name a result's leaderboard row goes by: its first GPU's canonical name
// (scoring/hardware_table.h), or "CPU: " + the CPU model without trademark
// marks when it ran on no GPU.
std::string DeviceNameOf(const v1::RunResult& result);

// The store's scores: "" for every format, then each format of the suite.
// Empty for custom models.
std::vector<StoredScores> ToStoredScores(const ScoreReport& overall,
                                         const std::vector<std::pair<std::string, ScoreReport>>&
                                             by_format);

// kFlagCustomModel for a custom model, else kFlagUnrankableSuite for a suite
// that is not a leaderboard basket, else 0.
int64_t UnrankableFlags(bool custom_model, bool rankable_suite);

// The StoredResult for an accepted verdict (no id: the store assigns it): the
// result's nonce, key,
// suite, device name, backend, score, flags (UnrankableFlags), status "accepted",
// the envelope (re-serialized: the generated stubs never see the request's
// wire bytes; its payload, the bytes the agent signed, is kept verbatim, so
// the stored envelope still verifies), every measurement's median, each
// case's peak memory (kPeakMemoryMetric) when it ran and has one, and the
// scores. `received_us`: microseconds since the Unix epoch.
StoredResult MakeStoredResult(const v1::SignedResult& envelope, const Verdict& verdict,
                              int64_t received_us);

// Rescores a stored result from its envelope's payload with `verifier`'s
// suites and the current scoring. DataLoss when the envelope does not parse.
RescoreFn MakeRescorer(const SubmissionVerifier* verifier);

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_SERVICE_STORED_RESULT_H_
