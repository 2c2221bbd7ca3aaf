#include "agent/bench/self_check.h"

#include <cmath>
#include <memory>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/engine/backend_registry.h"
#include "agent/engine/model_config.h"
#include "agent/engine/session.h"
#include "agent/engine/synthetic_weights.h"

namespace aiscore {
namespace {

constexpr char kCheckModel[] = "tiny";
constexpr int kCheckTokens = 16;
constexpr int64_t kCheckBatches[] = {10, 4, 1, 1};  // tokens per Forward, kCheckTokens in all

absl::StatusOr<std::vector<float>> CheckLogits(Backend& backend, const ModelWeights& weights,
                                               const std::vector<int32_t>& tokens) {
  absl::StatusOr<std::unique_ptr<Session>> session =
      Session::Create(&backend, weights, {.max_context = kCheckTokens, .max_batch = kCheckTokens});
  if (!session.ok()) return session.status();
  // The tokens go in as a prefill batch, a speculative-verification-sized
  // batch and single decode steps, so that every size class of kernel a
  // backend may have (large and small matrix products) is checked.
  std::vector<float> logits;
  int64_t pos = 0;
  for (const int64_t n : kCheckBatches) {
    const std::span<const int32_t> batch(tokens.data() + pos, n);
    if (absl::Status s = (*session)->Forward(batch, pos, Logits::kAll); !s.ok()) return s;
    logits.insert(logits.end(), (*session)->logits().begin(), (*session)->logits().end());
    pos += n;
  }
  return logits;
}

}  // namespace

double SelfCheckTolerance(Format format) { return format == Format::kF16 ? 1e-4 : 5e-3; }

v1::SelfCheck RunSelfCheck(Backend& backend, Format format, uint64_t seed) {
  v1::SelfCheck check;
  check.set_model(kCheckModel);
  check.set_tokens(kCheckTokens);
  check.set_tolerance(SelfCheckTolerance(format));
  auto fail = [&](const absl::Status& status) {
    check.set_status(v1::SELF_CHECK_STATUS_FAILED);
    check.set_message(std::string(status.message()));
    return check;
  };
  absl::StatusOr<ModelConfig> config = ModelPreset(kCheckModel);
  if (!config.ok()) return fail(config.status());
  absl::StatusOr<ModelWeights> weights = SynthesizeWeights(*config, format, seed);
  if (!weights.ok()) return fail(weights.status());
  const std::vector<int32_t> tokens = SyntheticTokens(kCheckTokens, config->vocab_size, seed);
  absl::StatusOr<std::unique_ptr<Backend>> reference = CreateBackend("cpu", {.isa = "scalar"});
  if (!reference.ok()) return fail(reference.status());
  absl::StatusOr<std::vector<float>> want = CheckLogits(**reference, *weights, tokens);
  if (!want.ok()) return fail(want.status());
  absl::StatusOr<std::vector<float>> got = CheckLogits(backend, *weights, tokens);
  if (!got.ok()) return fail(got.status());
  if (got->size() != want->size()) {
    return fail(absl::InternalError(
        absl::StrCat("the backend returned ", got->size(), " logits instead of ", want->size())));
  }
  double err = 0, norm = 0;
  for (size_t i = 0; i < want->size(); ++i) {
    const double g = (*got)[i], w = (*want)[i];
    if (!std::isfinite(g)) {
      return fail(absl::InternalError(absl::StrCat("logit ", i, " is not finite (", g, ")")));
    }
    err += (g - w) * (g - w);
    norm += w * w;
  }
  check.set_nmse(norm > 0 ? err / norm : err);
  if (check.nmse() <= check.tolerance()) {
    check.set_status(v1::SELF_CHECK_STATUS_PASSED);
  } else {
    check.set_status(v1::SELF_CHECK_STATUS_FAILED);
    check.set_message(absl::StrFormat("logits differ from the reference: nmse %.3g > %.3g",
                                      check.nmse(), check.tolerance()));
  }
  return check;
}

}  // namespace aiscore
