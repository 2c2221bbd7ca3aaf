// The memory model: scoring/memory_model.h states the contract and the
// formulas, docs/scoring.md ("Memory") explains them.
#include "scoring/memory_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "agent/engine/model_config.h"
#include "agent/engine/session.h"
#include "agent/quant/format.h"
#include "scoring/reference_values.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

// No estimate may reach this many bytes (4 EiB), so that int64 sums of the
// parts cannot overflow.
constexpr double kMaxBytes = 4.0 * static_cast<double>(int64_t{1} << 60);

// Checks the fields of `shape` that sizes depend on, with the engine's own
// rules and limits (ModelConfig::Validate): positive dimensions, heads that
// divide d_model, K/V heads that divide the heads, an even head_dim. The
// fields sizes do not depend on are set to valid values first, so that a
// shape that leaves them out is still accepted.
absl::Status ValidateShape(const v1::ModelShape& shape) {
  ModelConfig config = ToModelConfig(shape);
  if (config.name.empty()) config.name = "custom";
  config.max_context = 1;
  config.rope_theta = 10000.0f;
  config.norm_eps = 1e-5f;
  return config.Validate();
}

absl::StatusOr<Format> ParseFormat(std::string_view format) {
  absl::StatusOr<Format> f = FormatFromName(format);
  if (!f.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown weight format '", std::string(format), "': ", f.status().message()));
  }
  return *f;
}

// The engine's scratch for one micro-batch: SessionOverheadBytes less its KV
// cache. Asked for a context of min(context, kMicroBatch) tokens, which
// yields the same micro-batch (the session clamps it to the context) and
// keeps the engine's cache arithmetic far from overflow.
int64_t ActivationBytes(const v1::ModelShape& shape, int64_t context_tokens) {
  const ModelConfig config = ToModelConfig(shape);
  SessionOptions options;
  options.max_context = std::min(context_tokens, kMicroBatch);
  options.max_batch = kMicroBatch;
  return SessionOverheadBytes(config, options) - options.max_context * config.KvBytesPerToken();
}

}  // namespace

absl::StatusOr<int64_t> ModelWeightBytes(const v1::ModelShape& shape, std::string_view format) {
  if (absl::Status s = ValidateShape(shape); !s.ok()) return s;
  absl::StatusOr<Format> f = ParseFormat(format);
  if (!f.ok()) return f.status();
  absl::StatusOr<double> per_token = WeightBytesPerToken(shape, format);
  if (!per_token.ok()) return per_token.status();
  // WeightBytesPerToken holds one row of the embedding table; the model holds
  // all vocab_size rows.
  const double other_rows =
      static_cast<double>(shape.vocab_size() - 1) * static_cast<double>(shape.d_model());
  const double bytes = std::ceil(*per_token + other_rows * BitsPerWeight(*f) / 8);
  if (bytes >= kMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", shape.name(), "': weights of ", bytes, " bytes are out of range"));
  }
  return static_cast<int64_t>(bytes);
}

absl::StatusOr<MemoryEstimate> EstimateMemory(const v1::ModelShape& shape, std::string_view format,
                                              int64_t context_tokens,
                                              const MemoryCalibration& calibration) {
  if (context_tokens <= 0 || context_tokens > kMaxContextTokens) {
    return absl::InvalidArgumentError(absl::StrCat("a context of ", context_tokens,
                                                   " tokens is out of range: it must be in [1, ",
                                                   kMaxContextTokens, "]"));
  }
  if (calibration.overhead_bytes < 0) {
    return absl::InvalidArgumentError(absl::StrCat("runtime overhead of ",
                                                   calibration.overhead_bytes,
                                                   " bytes is negative (", calibration.basis, ")"));
  }
  absl::StatusOr<int64_t> weights = ModelWeightBytes(shape, format);
  if (!weights.ok()) return weights.status();

  const double kv_per_token = KvBytesPerToken(shape);
  const double kv = kv_per_token * static_cast<double>(context_tokens);
  if (kv >= kMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", shape.name(), "': a KV cache of ", kv, " bytes is out of range"));
  }
  MemoryEstimate e;
  e.weights_bytes = *weights;
  e.kv_cache_bytes = static_cast<int64_t>(kv_per_token) * context_tokens;
  e.activations_bytes = ActivationBytes(shape, context_tokens);
  e.overhead_bytes = calibration.overhead_bytes;
  // Each part is below 4 EiB, but an overhead near INT64_MAX could still
  // overflow the sum: add in double first.
  const double total =
      static_cast<double>(e.weights_bytes) + static_cast<double>(e.kv_cache_bytes) +
      static_cast<double>(e.activations_bytes) + static_cast<double>(e.overhead_bytes);
  if (total >= 2 * kMaxBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", shape.name(), "': a total of ", total, " bytes is out of range"));
  }
  e.total_bytes = e.weights_bytes + e.kv_cache_bytes + e.activations_bytes + e.overhead_bytes;
  return e;
}

bool Fits(const MemoryEstimate& estimate, int64_t device_memory_bytes) {
  return estimate.total_bytes <= device_memory_bytes;
}

}  // namespace aiscore
