#include "agent/engine/model_config.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace aiscore {
namespace {

ModelConfig Make(std::string name, int64_t vocab, int64_t d_model, int64_t layers, int64_t heads,
                 int64_t kv_heads, int64_t d_ff, float theta, int64_t context) {
  ModelConfig c;
  c.name = std::move(name);
  c.vocab_size = vocab;
  c.d_model = d_model;
  c.n_layers = layers;
  c.n_heads = heads;
  c.n_kv_heads = kv_heads;
  c.d_ff = d_ff;
  c.rope_theta = theta;
  c.max_context = context;
  return c;
}

std::vector<ModelConfig> Presets() {
  return {
      // DESIGN.md's basket: Mistral-7B shape and its 1B draft.
      Make("target-7b", 32768, 4096, 32, 32, 8, 14336, 1e6f, 8192 + 512),
      Make("draft-1b", 32768, 2048, 16, 32, 8, 8192, 5e5f, 8192 + 512),
      // Small shapes with the same structure (GQA 4:1), for tests and the quick suite.
      Make("tiny", 512, 256, 2, 4, 1, 512, 10000.0f, 1024),
      Make("small", 2048, 512, 4, 8, 2, 1536, 10000.0f, 2048),
  };
}

}  // namespace

absl::Status ModelConfig::Validate() const {
  auto bad = [&](std::string_view field, int64_t value, std::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat("model '", name, "': ", std::string(field),
                                                   " = ", value, " ", std::string(why)));
  };
  constexpr int64_t kMaxDim = 1 << 20;
  if (vocab_size <= 0 || vocab_size > (1 << 24))
    return bad("vocab_size", vocab_size, "is out of range");
  if (d_model <= 0 || d_model > kMaxDim) return bad("d_model", d_model, "is out of range");
  if (n_layers <= 0 || n_layers > 1024) return bad("n_layers", n_layers, "is out of range");
  if (n_heads <= 0 || d_model % n_heads != 0) {
    return bad("n_heads", n_heads, "must be positive and divide d_model");
  }
  if (n_kv_heads <= 0 || n_heads % n_kv_heads != 0) {
    return bad("n_kv_heads", n_kv_heads, "must be positive and divide n_heads");
  }
  if (head_dim() % 2 != 0) return bad("head_dim", head_dim(), "must be even for rotary pairs");
  if (d_ff <= 0 || d_ff > 4 * kMaxDim) return bad("d_ff", d_ff, "is out of range");
  if (max_context <= 0 || max_context > (1 << 22)) {
    return bad("max_context", max_context, "is out of range");
  }
  if (!(rope_theta > 0.0f)) {
    return absl::InvalidArgumentError(absl::StrCat("model '", name, "': rope_theta must be > 0"));
  }
  if (!(norm_eps > 0.0f && norm_eps < 1.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model '", name, "': norm_eps must be in (0, 1)"));
  }
  return absl::OkStatus();
}

int64_t ModelConfig::ParameterCount() const {
  const int64_t per_layer = 2 * d_model               // norms
                            + 2 * d_model * d_model   // q, o
                            + 2 * d_model * kv_dim()  // k, v
                            + 3 * d_model * d_ff;     // gate, up, down
  return n_layers * per_layer + 2 * vocab_size * d_model + d_model;
}

int64_t ModelConfig::ParametersReadPerToken() const {
  return ParameterCount() - vocab_size * d_model + d_model;
}

absl::StatusOr<ModelConfig> ModelPreset(std::string_view name) {
  for (ModelConfig& c : Presets()) {
    if (c.name == name) return c;
  }
  return absl::NotFoundError(absl::StrCat("unknown model '", std::string(name),
                                          "': known models are ",
                                          absl::StrJoin(ModelPresetNames(), ", ")));
}

std::vector<std::string> ModelPresetNames() {
  std::vector<std::string> names;
  for (const ModelConfig& c : Presets()) names.push_back(c.name);
  return names;
}

}  // namespace aiscore
