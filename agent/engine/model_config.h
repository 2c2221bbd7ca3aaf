// The shape of a Llama-architecture model, and the named shapes of the basket.
//
// A config comes from a preset (the suite's models), from a suite entry or
// from GGUF metadata; Validate() says which field is wrong. Plain value type.
#ifndef AISCORE_AGENT_ENGINE_MODEL_CONFIG_H_
#define AISCORE_AGENT_ENGINE_MODEL_CONFIG_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aiscore {

struct ModelConfig {
  std::string name;
  int64_t vocab_size = 0;
  int64_t d_model = 0;  // embedding width
  int64_t n_layers = 0;
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads (grouped-query attention)
  int64_t d_ff = 0;        // SwiGLU hidden width
  float rope_theta = 10000.0f;
  float norm_eps = 1e-5f;      // RMSNorm epsilon
  int64_t max_context = 8192;  // tokens

  int64_t head_dim() const { return d_model / n_heads; }
  int64_t kv_dim() const { return n_kv_heads * head_dim(); }  // width of K and V rows

  // Checks every field and the relations between them (heads divide d_model,
  // kv heads divide heads, even head_dim for rotary pairs, sane sizes).
  absl::Status Validate() const;

  // All weights, embeddings and output head included (norms too).
  int64_t ParameterCount() const;
  // Weights a decode step reads: everything but the embedding table, of which
  // it reads one row.
  int64_t ParametersReadPerToken() const;
  // F16 KV cache bytes per token of context, over all layers.
  int64_t KvBytesPerToken() const { return 2 * n_layers * kv_dim() * 2; }
};

// The basket's shapes ("target-7b", "draft-1b") and small shapes for tests
// and demos ("tiny", "small"). Error names the known presets.
absl::StatusOr<ModelConfig> ModelPreset(std::string_view name);
std::vector<std::string> ModelPresetNames();

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_MODEL_CONFIG_H_
