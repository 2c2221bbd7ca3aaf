// The analytic reference device: scoring/reference_values.h states the
// contract, docs/scoring.md derives every formula.
#include "scoring/reference_values.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/engine/model_config.h"
#include "agent/engine/speculative_formulas.h"
#include "agent/quant/format.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

// Parameters of the weight matrices: all layers' (q, k, v, o, gate, up,
// down), and the output head's.
struct MatrixParams {
  double layers = 0;  // n_layers x (d (2 d + 2 kv_dim) + 3 d d_ff)
  double head = 0;    // vocab_size x d_model
};

MatrixParams Matrices(const v1::ModelShape& shape) {
  const ModelConfig c = ToModelConfig(shape);
  const int64_t per_layer = c.d_model * (2 * c.d_model + 2 * c.kv_dim()) + 3 * c.d_model * c.d_ff;
  MatrixParams m;
  m.layers = static_cast<double>(per_layer * c.n_layers);
  m.head = static_cast<double>(c.vocab_size * c.d_model);
  return m;
}

// Bytes per second the device's memory reaches.
double EffectiveBandwidth(const v1::ReferenceDevice& device) {
  return device.memory_bandwidth() * device.memory_efficiency();
}

// FLOP/s the device's FP16 units reach.
double EffectiveFlops(const v1::ReferenceDevice& device) {
  return device.fp16_flops() * device.compute_efficiency();
}

// A value with 9 significant digits, enough to show a difference of 1e-5.
std::string Num(double x) {
  char buffer[64];
  const std::to_chars_result r =
      std::to_chars(buffer, buffer + sizeof(buffer), x, std::chars_format::general, 9);
  return std::string(buffer, r.ptr);
}

// The figures of one speculative step on the reference device.
struct SpeculativeStep {
  double draft_seconds = 0;   // t_d: one drafted token
  double verify_seconds = 0;  // t_v: the target over k + 1 tokens
  double target_seconds = 0;  // one token decoded by the target alone
};

absl::StatusOr<SpeculativeStep> SpeculativeFigures(const v1::ReferenceDevice& device,
                                                   const v1::ModelShape& target,
                                                   const v1::ModelShape& draft,
                                                   const v1::Workload& workload,
                                                   std::string_view format) {
  const double context = MeanDecodeContext(workload);
  SpeculativeStep step;
  absl::StatusOr<double> t = DecodeSeconds(device, draft, format, context);
  if (!t.ok()) return t.status();
  step.draft_seconds = *t;
  t = ForwardSeconds(device, target, format, workload.draft_tokens() + 1,
                     static_cast<int64_t>(std::floor(context)));
  if (!t.ok()) return t.status();
  step.verify_seconds = *t;
  t = DecodeSeconds(device, target, format, context);
  if (!t.ok()) return t.status();
  step.target_seconds = *t;
  return step;
}

// The acceptance rate at which speculation matches plain decoding.
absl::StatusOr<double> BreakEvenAcceptance(const SpeculativeStep& step, int64_t k) {
  const double step_seconds = static_cast<double>(k) * step.draft_seconds + step.verify_seconds;
  // E(a) must reach this many tokens per step; E(0) = 1 and E(1) = k + 1.
  const double needed = step_seconds / step.target_seconds;
  if (needed <= 1) return 0.0;
  if (needed > static_cast<double>(k + 1)) {
    return absl::OutOfRangeError(absl::StrCat("speculation never pays: a step of ", k,
                                              " drafted tokens takes ", Num(step_seconds),
                                              " s, more than ", k + 1, " tokens decoded plainly (",
                                              Num(step.target_seconds), " s each)"));
  }
  return SpeculativeAcceptanceFor(k, needed);
}

}  // namespace

absl::StatusOr<double> WeightBytesPerToken(const v1::ModelShape& shape, std::string_view format) {
  absl::StatusOr<Format> f = FormatFromName(format);
  if (!f.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown weight format '", std::string(format), "'"));
  }
  const MatrixParams m = Matrices(shape);
  const double in_format = m.layers + m.head + static_cast<double>(shape.d_model());
  const double norms_f32 = static_cast<double>((2 * shape.n_layers() + 1) * shape.d_model() * 4);
  return in_format * BitsPerWeight(*f) / 8 + norms_f32;
}

double KvBytesPerToken(const v1::ModelShape& shape) {
  return static_cast<double>(ToModelConfig(shape).KvBytesPerToken());
}

double ForwardFlops(const v1::ModelShape& shape, int64_t n, int64_t pos) {
  const MatrixParams m = Matrices(shape);
  const ModelConfig c = ToModelConfig(shape);
  const double tokens = static_cast<double>(n);
  const double pairs = tokens * static_cast<double>(pos) + tokens * (tokens + 1) / 2;
  const double attention_per_pair = static_cast<double>(c.n_layers * c.n_heads * 4 * c.head_dim());
  return tokens * 2 * m.layers + 2 * m.head + attention_per_pair * pairs;
}

absl::StatusOr<double> ForwardSeconds(const v1::ReferenceDevice& device,
                                      const v1::ModelShape& shape, std::string_view format,
                                      int64_t n, int64_t pos) {
  absl::StatusOr<double> weights = WeightBytesPerToken(shape, format);
  if (!weights.ok()) return weights.status();
  const double compute = ForwardFlops(shape, n, pos) / EffectiveFlops(device);
  const double bytes = *weights + KvBytesPerToken(shape) * static_cast<double>(pos + n);
  const double memory = bytes / EffectiveBandwidth(device);
  return std::max(compute, memory);
}

absl::StatusOr<double> DecodeSeconds(const v1::ReferenceDevice& device, const v1::ModelShape& shape,
                                     std::string_view format, double context) {
  absl::StatusOr<double> weights = WeightBytesPerToken(shape, format);
  if (!weights.ok()) return weights.status();
  return (*weights + KvBytesPerToken(shape) * context) / EffectiveBandwidth(device);
}

double MeanDecodeContext(const v1::Workload& workload) {
  return static_cast<double>(workload.prompt_tokens()) +
         static_cast<double>(workload.generate_tokens() + 1) / 2;
}

absl::StatusOr<double> ReferenceValue(const v1::SuiteSpec& suite, const v1::Workload& workload,
                                      v1::MetricKind kind, std::string_view format) {
  const std::string where =
      absl::StrCat("workload '", workload.name(), "', ", v1::MetricKind_Name(kind), ", format '",
                   std::string(format), "': ");
  if (!WorkloadMeasures(workload.kind(), kind)) {
    return absl::InvalidArgumentError(absl::StrCat(where, "not measured by a workload of kind ",
                                                   v1::WorkloadKind_Name(workload.kind())));
  }
  const v1::ModelShape* model = FindModel(suite, workload.model());
  if (model == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "model '", workload.model(), "' is not in the suite"));
  }
  if (!FormatFromName(format).ok()) {
    return absl::InvalidArgumentError(absl::StrCat(where, "unknown weight format"));
  }
  const v1::ReferenceDevice& device = suite.reference_device();
  const int64_t prompt = workload.prompt_tokens();
  switch (kind) {
    case v1::METRIC_KIND_PREFILL_RATE: {
      absl::StatusOr<double> t = ForwardSeconds(device, *model, format, prompt, 0);
      if (!t.ok()) return t.status();
      return static_cast<double>(prompt) / *t;
    }
    case v1::METRIC_KIND_TIME_TO_FIRST_TOKEN:
      return ForwardSeconds(device, *model, format, prompt, 0);
    case v1::METRIC_KIND_DECODE_RATE: {
      absl::StatusOr<double> t = DecodeSeconds(device, *model, format, MeanDecodeContext(workload));
      if (!t.ok()) return t.status();
      return 1 / *t;
    }
    default:
      break;
  }
  const v1::ModelShape* draft = FindModel(suite, workload.draft_model());
  if (draft == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, "draft model '", workload.draft_model(), "' is not in the suite"));
  }
  absl::StatusOr<SpeculativeStep> step =
      SpeculativeFigures(device, *model, *draft, workload, format);
  if (!step.ok()) return step.status();
  const int64_t k = workload.draft_tokens();
  switch (kind) {
    case v1::METRIC_KIND_DRAFT_STEP_TIME:
      return step->draft_seconds;
    case v1::METRIC_KIND_VERIFY_TIME:
      return step->verify_seconds;
    case v1::METRIC_KIND_EFFECTIVE_RATE:
      return SpeculativeTokensPerStep(k, workload.acceptance_rate()) /
             (static_cast<double>(k) * step->draft_seconds + step->verify_seconds);
    case v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE: {
      absl::StatusOr<double> a = BreakEvenAcceptance(*step, k);
      if (!a.ok()) return absl::OutOfRangeError(absl::StrCat(where, a.status().message()));
      return a;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(where, "no reference value for this kind"));
  }
}

absl::Status CheckReferenceValues(const v1::SuiteSpec& suite) {
  for (const v1::Workload& workload : suite.workloads()) {
    for (const v1::MetricSpec& metric : workload.metrics()) {
      const std::string where = absl::StrCat("suite '", suite.name(), "': workload '",
                                             workload.name(), "' metric '", metric.name(), "'");
      std::set<std::string> given;
      for (const v1::Reference& reference : metric.references()) {
        given.insert(reference.format());
        absl::StatusOr<double> computed =
            ReferenceValue(suite, workload, metric.kind(), reference.format());
        if (!computed.ok()) {
          return absl::InvalidArgumentError(absl::StrCat(where, " format '", reference.format(),
                                                         "': ", computed.status().message()));
        }
        if (!(std::fabs(reference.value() - *computed) <= kReferenceTolerance * *computed)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, " format '", reference.format(), "': reference ",
                           Num(reference.value()), " differs from the computed ", Num(*computed),
                           " by more than ", Num(kReferenceTolerance), " relative"));
        }
      }
      if (metric.sub_score() == v1::SUB_SCORE_UNSPECIFIED) continue;
      for (const std::string& format : suite.formats()) {
        if (given.count(format) == 0) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": no reference for format '", format, "'"));
        }
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace aiscore
