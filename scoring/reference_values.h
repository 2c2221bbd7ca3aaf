// The analytic reference device: the figures a suite's reference values are
// computed from, so that the score is anchored to physics rather than to a
// machine someone has to keep (DESIGN.md, "The score"; docs/scoring.md derives
// every formula below).
//
// The device is a SuiteSpec.reference_device: a memory bandwidth reached at
// memory_efficiency and a dense FP16 rate reached at compute_efficiency. On
// it, a forward pass over n tokens takes the longer of its FLOPs at the
// effective compute rate and its bytes (weights once, plus the KV cache) at
// the effective bandwidth; a decoded token is memory-bound. Byte counts use
// each format's bits per weight from the traits table (agent/quant/format.h).
// The functions reproduce, to rounding, the script that produced the values in
// suites/*.textproto; CheckReferenceValues holds a suite to them.
//
// Pure functions of their arguments; thread-safe.
#ifndef AISCORE_SCORING_REFERENCE_VALUES_H_
#define AISCORE_SCORING_REFERENCE_VALUES_H_

#include <cstdint>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aiscore/v1/suite.pb.h"

namespace aiscore {

// The largest relative difference CheckReferenceValues accepts between a
// suite's reference and the computed value (suite files keep 6 significant
// digits, a rounding of at most 5e-6).
inline constexpr double kReferenceTolerance = 1e-5;

// Bytes of weights one decoded token of `shape` reads in `format`: every
// matrix of the layers and the output head in the format, one row of the
// embedding table in the format, the norms (2 per layer and the final one) in
// F32. InvalidArgument for an unknown format.
absl::StatusOr<double> WeightBytesPerToken(const v1::ModelShape& shape, std::string_view format);

// Bytes of F16 K and V cache per token of context, over all layers
// (grouped-query aware): 2 x n_layers x n_kv_heads x head_dim x 2.
double KvBytesPerToken(const v1::ModelShape& shape);

// FLOPs of a forward pass over `n` tokens at positions pos .. pos + n - 1
// with the logits of the last token only: 2 per weight of the layers' matrices
// per token, 2 per weight of the output head once, and 4 x head_dim x n_heads
// x n_layers per causal (query, key) pair, of which there are
// n x pos + n (n + 1) / 2.
double ForwardFlops(const v1::ModelShape& shape, int64_t n, int64_t pos);

// Seconds of that forward pass on `device`: the longer of
// ForwardFlops / (fp16_flops x compute_efficiency) and
// (weight bytes + KV bytes of pos + n tokens) / (memory_bandwidth x memory_efficiency).
absl::StatusOr<double> ForwardSeconds(const v1::ReferenceDevice& device,
                                      const v1::ModelShape& shape, std::string_view format,
                                      int64_t n, int64_t pos);

// Seconds of one decoded token at a context of `context` tokens (fractional
// for a mean): (weight bytes + KV bytes of the context) / effective bandwidth.
absl::StatusOr<double> DecodeSeconds(const v1::ReferenceDevice& device, const v1::ModelShape& shape,
                                     std::string_view format, double context);

// The mean context of a workload's decode phase, in tokens:
// prompt_tokens + (generate_tokens + 1) / 2.
double MeanDecodeContext(const v1::Workload& workload);

// The reference value of a metric of `kind` of `workload` of `suite` in
// `format`, in the metric's unit (suite.proto, MetricKind):
//   PREFILL_RATE          prompt / ForwardSeconds(prompt tokens at 0)
//   TIME_TO_FIRST_TOKEN   ForwardSeconds(prompt tokens at 0)
//   DECODE_RATE           1 / DecodeSeconds(MeanDecodeContext)
//   DRAFT_STEP_TIME       t_d = draft DecodeSeconds(MeanDecodeContext)
//   VERIFY_TIME           t_v = ForwardSeconds(k + 1 tokens at floor(MeanDecodeContext))
//   EFFECTIVE_RATE        E(a) / (k t_d + t_v)
//   BREAK_EVEN_ACCEPTANCE the a at which E(a) / (k t_d + t_v) equals the
//                         target's decode rate, by bisection; 0 when speculation
//                         pays at any acceptance, OutOfRange when it never does.
// InvalidArgument when the workload's models or the format are unknown, or
// the kind is not one the workload's kind measures.
absl::StatusOr<double> ReferenceValue(const v1::SuiteSpec& suite, const v1::Workload& workload,
                                      v1::MetricKind kind, std::string_view format);

// Checks every reference of every metric of `suite` against ReferenceValue:
// OK when each is within kReferenceTolerance (relative) of it. The error
// names the workload, metric and format and gives both values; a scored metric
// lacking a reference for one of the suite's formats is an error too.
absl::Status CheckReferenceValues(const v1::SuiteSpec& suite);

}  // namespace aiscore

#endif  // AISCORE_SCORING_REFERENCE_VALUES_H_
