// The AI System Score of a run (DESIGN.md, "The score"; docs/scoring.md).
//
// The cases of a suite are every workload in every format of the suite, in
// suite order (workloads outer, formats inner); a case ran when its status is
// CASE_STATUS_OK. Each scored metric (sub_score set) of a case that ran gives
// a ratio: median / reference for rates, reference / median for times.
//   capacity   = cases that ran / cases of the suite
//   sub-score  = 1000 x geometric mean of that sub-score's ratios (0: none)
//   score      = 1000 x capacity x geometric mean of all ratios (0: none)
// A faster result never scores lower. The agent shows ComputeScore's figure;
// the collector recomputes it from the stored result.
//
// Deterministic: logs are summed in suite order, whatever the order of the
// result's cases and measurements, so the same inputs give the same score bit
// for bit. Pure functions; thread-safe.
#ifndef AISCORE_SCORING_SCORE_H_
#define AISCORE_SCORING_SCORE_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aiscore/v1/collector.pb.h"
#include "aiscore/v1/result.pb.h"
#include "aiscore/v1/suite.pb.h"

namespace aiscore {

// One scored figure of a case that ran.
struct MetricRatio {
  std::string case_name;  // "chat/q4_k"
  std::string metric;     // "tg128"
  v1::SubScore sub_score = v1::SUB_SCORE_UNSPECIFIED;
  double measured = 0;   // the measurement's median, in the metric's unit
  double reference = 0;  // the suite's reference for the case's format, same unit
  double ratio = 0;      // measured / reference, or reference / measured for times
};

struct ScoreReport {
  // AI System Score: 1000 x capacity x geometric mean of the ratios of the
  // cases that ran; 0 when no ratio.
  double score = 0;
  // 1000 x geometric mean of that sub-score's ratios; 0 when none ran.
  double prefill = 0;
  double decode = 0;
  double latency = 0;
  double long_context = 0;
  double speculative = 0;
  double capacity = 0;              // cases that ran / cases of the suite, in [0, 1]
  int cases_total = 0;              // workloads x formats of the suite
  int cases_ran = 0;                // of them, status CASE_STATUS_OK
  std::vector<MetricRatio> ratios;  // every scored ratio, in suite order
};

// Scores `result` against `suite` (validated, suites/suite_loader.h).
// InvalidArgument, naming the case and metric, when: the result names another
// suite (a result with an empty suite name is taken as this suite's), a case
// of the suite is missing from the result, a result case is not in the suite
// or appears twice, a case that ran lacks (or repeats) a scored measurement,
// a median is not finite and positive, or the suite lacks a reference.
absl::StatusOr<ScoreReport> ComputeScore(const v1::SuiteSpec& suite, const v1::RunResult& result);

// The score of one format's cases alone, as a leaderboard filtered by format
// ranks them: capacity is the format's cases that ran over the suite's
// workloads, and the ratios are that format's only. The same errors as
// ComputeScore, and InvalidArgument when the suite has no such format.
absl::StatusOr<ScoreReport> ComputeFormatScore(const v1::SuiteSpec& suite,
                                               const v1::RunResult& result,
                                               std::string_view format);

// The sub-scores and capacity of a report, as the collector's API carries them.
v1::SubScores ToProto(const ScoreReport& report);

}  // namespace aiscore

#endif  // AISCORE_SCORING_SCORE_H_
