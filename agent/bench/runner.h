// The runner: turns a suite into a RunResult on one backend.
//
// For each format it self-checks the backend against the reference, then for
// each case of that format checks that the case's memory fits, synthesizes
// (or maps) the weights, warms up and times repetitions (at least one, more
// while the suite's time cap allows), and records statistics over the raw
// samples. A case that cannot run is a result with its reason, never an
// abort: the run always lists every case of the suite, in suite order.
// Prefill and decode are timed with the backend's DeviceTimer (CUDA events on
// a GPU, a steady clock on the CPU); picking the next token (argmax of the
// logits) is outside the timings.
#ifndef AISCORE_AGENT_BENCH_RUNNER_H_
#define AISCORE_AGENT_BENCH_RUNNER_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/bench/case_plan.h"
#include "agent/engine/backend.h"
#include "aiscore/v1/result.pb.h"
#include "suites/suite_loader.h"

namespace aiscore {

struct RunnerOptions {
  std::vector<std::string> formats;    // run only these; empty: all
  std::vector<std::string> workloads;  // run only these; empty: all
  std::string custom_model;            // path of a person's own GGUF; empty: the suite's models
  int gpu_index = 0;                   // which GPU NVML samples for power
};

// Hears what the runner does, to show progress. Called on the runner's thread.
class RunObserver {
 public:
  virtual ~RunObserver() = default;
  // Before the first case: the plan and the estimated seconds of the whole run.
  virtual void OnPlan(const std::vector<CasePlan>& plan, double estimated_seconds) {}
  // `remaining_seconds`: estimate for this and the following cases.
  virtual void OnCaseStart(size_t index, const CasePlan& plan, double remaining_seconds) {}
  virtual void OnStep(size_t index, std::string_view what) {}  // "warm-up", "repetition 2/5"
  virtual void OnCaseEnd(size_t index, const v1::CaseResult& result) {}
};

// Runs `suite` on `backend`. Fails only when the run as a whole cannot be
// made (a bad filter, an unreadable custom model); case failures are results.
absl::StatusOr<v1::RunResult> RunSuite(const LoadedSuite& suite, Backend& backend,
                                       const RunnerOptions& options, RunObserver& observer);

}  // namespace aiscore

#endif  // AISCORE_AGENT_BENCH_RUNNER_H_
