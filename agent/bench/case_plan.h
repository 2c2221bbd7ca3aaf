// The cases a run of a suite consists of, in suite order (workload-major:
// chat/f16, chat/q8_0, ..., long/f16, ...), with what each needs: the model
// shapes, the tokens, the memory, and an estimate of its time.
//
// A plan is pure data, made before anything is loaded. Cases the user left
// out (--format, --workload) stay in the plan, marked not selected, so the
// result still lists every case of the suite.
#ifndef AISCORE_AGENT_BENCH_CASE_PLAN_H_
#define AISCORE_AGENT_BENCH_CASE_PLAN_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/engine/model_config.h"
#include "agent/quant/format.h"
#include "aiscore/v1/suite.pb.h"

namespace aiscore {

struct CasePlan {
  std::string name;                        // "chat/q4_k"
  const v1::Workload* workload = nullptr;  // into the suite
  std::string format_name;                 // "q4_k"
  Format format = Format::kF16;
  ModelConfig model;                  // the model the case runs
  std::optional<ModelConfig> draft;   // speculative cases: the draft model
  int64_t context = 0;                // KV cache tokens the case needs
  int64_t weights_bytes = 0;          // model (+ draft) weights, bytes
  int64_t memory_required_bytes = 0;  // weights + KV caches + scratch, bytes
  bool selected = true;               // false: left out by the user's filters
  std::string not_run_reason;         // set when the case cannot run at all (custom model limits)
};

struct PlanOptions {
  std::vector<std::string> formats;    // run only these; empty: all of the suite's
  std::vector<std::string> workloads;  // run only these; empty: all
  // A person's own model: replaces the suite's models and formats. Its cases
  // are the suite's generate workloads in the file's format.
  const ModelConfig* custom_model = nullptr;
  Format custom_format = Format::kF16;
  int64_t custom_weights_bytes = 0;
};

// Expands the suite; errors name an unknown --format or --workload.
absl::StatusOr<std::vector<CasePlan>> PlanCases(const v1::SuiteSpec& suite,
                                                const PlanOptions& options);

// Rough seconds a case takes on a device that streams memory at `bytes_per_second`
// and computes at `flops` FLOP/s (scoring/reference_values.h's model of a device):
// weight synthesis, warm-up and timed repetitions (capped), for the ETA. Not a
// measurement; 0 for a case that will not run.
double EstimateCaseSeconds(const CasePlan& plan, const v1::Timing& timing, double bytes_per_second,
                           double flops);

}  // namespace aiscore

#endif  // AISCORE_AGENT_BENCH_CASE_PLAN_H_
