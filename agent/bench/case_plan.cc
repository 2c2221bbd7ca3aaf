#include "agent/bench/case_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/engine/model_weights.h"
#include "agent/engine/session.h"
#include "scoring/reference_values.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

bool Contains(const std::vector<std::string>& list, const std::string& x) {
  return std::find(list.begin(), list.end(), x) != list.end();
}

absl::StatusOr<int64_t> WeightBytes(const ModelConfig& model, Format format) {
  absl::StatusOr<ModelWeights> w = DescribeWeights(model, format);
  if (!w.ok()) return w.status();
  return static_cast<int64_t>(w->TotalBytes());
}

}  // namespace

absl::StatusOr<std::vector<CasePlan>> PlanCases(const v1::SuiteSpec& suite,
                                                const PlanOptions& options) {
  std::vector<std::string> formats(suite.formats().begin(), suite.formats().end());
  if (options.custom_model != nullptr) formats = {std::string(FormatName(options.custom_format))};
  for (const std::string& f : options.formats) {
    if (!Contains(formats, f)) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown format '", f, "': this run has ", absl::StrJoin(formats, ", ")));
    }
  }
  std::vector<std::string> workload_names;
  for (const v1::Workload& w : suite.workloads()) workload_names.push_back(w.name());
  for (const std::string& w : options.workloads) {
    if (!Contains(workload_names, w)) {
      return absl::InvalidArgumentError(absl::StrCat("unknown workload '", w, "': suite '",
                                                     suite.name(), "' has ",
                                                     absl::StrJoin(workload_names, ", ")));
    }
  }

  std::vector<CasePlan> plan;
  for (const v1::Workload& w : suite.workloads()) {
    for (const std::string& format_name : formats) {
      CasePlan c;
      c.name = CaseName(w.name(), format_name);
      c.workload = &w;
      c.format_name = format_name;
      absl::StatusOr<Format> format = FormatFromName(format_name);
      if (!format.ok()) return format.status();
      c.format = *format;
      c.selected = (options.formats.empty() || Contains(options.formats, format_name)) &&
                   (options.workloads.empty() || Contains(options.workloads, w.name()));
      const bool spec = w.kind() == v1::WORKLOAD_KIND_SPECULATIVE;
      c.context = w.prompt_tokens() + w.generate_tokens() + (spec ? w.draft_tokens() + 1 : 0);
      if (options.custom_model != nullptr) {
        c.model = *options.custom_model;
        c.weights_bytes = options.custom_weights_bytes;
        if (spec) {
          c.not_run_reason = "a custom model runs the generate workloads only";
        } else if (c.context > c.model.max_context) {
          c.not_run_reason =
              absl::StrCat("the model's context of ", c.model.max_context,
                           " tokens is shorter than the ", c.context, " this workload needs");
        }
      } else {
        c.model = ToModelConfig(*FindModel(suite, w.model()));
        absl::StatusOr<int64_t> bytes = WeightBytes(c.model, c.format);
        if (!bytes.ok()) return bytes.status();
        c.weights_bytes = *bytes;
        if (spec) {
          c.draft = ToModelConfig(*FindModel(suite, w.draft_model()));
          absl::StatusOr<int64_t> draft_bytes = WeightBytes(*c.draft, c.format);
          if (!draft_bytes.ok()) return draft_bytes.status();
          c.weights_bytes += *draft_bytes;
        }
      }
      const int64_t context = std::min(c.context, c.model.max_context);
      c.memory_required_bytes =
          c.weights_bytes + SessionOverheadBytes(c.model, {.max_context = context});
      if (c.draft) {
        c.memory_required_bytes += SessionOverheadBytes(*c.draft, {.max_context = context});
      }
      plan.push_back(std::move(c));
    }
  }
  return plan;
}

double EstimateCaseSeconds(const CasePlan& c, const v1::Timing& timing, double bytes_per_second,
                           double flops) {
  if (!c.selected || !c.not_run_reason.empty() || bytes_per_second <= 0 || flops <= 0) return 0;
  v1::ReferenceDevice device;
  device.set_memory_bandwidth(bytes_per_second);
  device.set_memory_efficiency(1);
  device.set_fp16_flops(flops);
  device.set_compute_efficiency(1);
  const v1::Workload& w = *c.workload;
  // One generate run of `model`: a prefill, then decode at the mean context.
  auto generate = [&](const ModelConfig& model, int64_t prompt, int64_t tokens) {
    const v1::ModelShape shape = ToModelShape(model);
    absl::StatusOr<double> prefill = ForwardSeconds(device, shape, c.format_name, prompt, 0);
    absl::StatusOr<double> step =
        DecodeSeconds(device, shape, c.format_name, static_cast<double>(prompt) + tokens / 2.0);
    return prefill.ok() && step.ok() ? *prefill + static_cast<double>(tokens) * *step : 0.0;
  };
  double repetition = generate(c.model, w.prompt_tokens(), w.generate_tokens());
  if (c.draft) repetition += generate(*c.draft, w.prompt_tokens(), w.generate_tokens());
  const double warmup =
      timing.warmup_runs() * generate(c.model, std::min<int64_t>(w.prompt_tokens(), 512),
                                      std::min<int64_t>(w.generate_tokens(), 8));
  const double timed = std::max(repetition, std::min(repetition * timing.repetitions(),
                                                     timing.max_case_seconds() + repetition));
  const double synthesis = static_cast<double>(c.weights_bytes) / 2e9;  // a few GB/s
  return synthesis + warmup + timed;
}

}  // namespace aiscore
