// The weights of a Llama-architecture model: every tensor by role, with the
// storage that keeps their bytes alive.
//
// Tensors are named and shaped as GGUF `llama` files name them; Tensors()
// lists them in the order files store them. A ModelWeights is immutable once
// built and safe to read from many threads; copies share the storage.
#ifndef AISCORE_AGENT_ENGINE_MODEL_WEIGHTS_H_
#define AISCORE_AGENT_ENGINE_MODEL_WEIGHTS_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/engine/model_config.h"
#include "agent/engine/weight_tensor.h"
#include "agent/quant/format.h"

namespace aiscore {

struct LayerWeights {
  WeightTensor attn_norm;  // F32 [d_model]
  WeightTensor wq;         // [n_heads * head_dim][d_model]
  WeightTensor wk;         // [n_kv_heads * head_dim][d_model]
  WeightTensor wv;         // [n_kv_heads * head_dim][d_model]
  WeightTensor wo;         // [d_model][n_heads * head_dim]
  WeightTensor ffn_norm;   // F32 [d_model]
  WeightTensor w_gate;     // [d_ff][d_model]
  WeightTensor w_up;       // [d_ff][d_model]
  WeightTensor w_down;     // [d_model][d_ff]
};

struct ModelWeights {
  ModelConfig config;
  Format format = Format::kF16;         // format of the weight matrices (the file's "mostly" type)
  WeightTensor token_embd;              // [vocab][d_model]
  WeightTensor output_norm;             // F32 [d_model]
  WeightTensor output;                  // [vocab][d_model]
  std::vector<LayerWeights> layers;     // [n_layers]
  std::shared_ptr<const void> storage;  // owns the bytes every tensor points into
  // The tensors lie in a read-only mapping of a file (LoadGgufModel): pages
  // dropped from memory (madvise MADV_DONTNEED) are read back on touch, so a
  // backend that copies them may drop them.
  bool file_mapped = false;

  // Every tensor, in file order: token_embd, output_norm, output, then per layer
  // attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_norm, ffn_gate, ffn_up, ffn_down.
  std::vector<const WeightTensor*> Tensors() const;
  std::vector<WeightTensor*> MutableTensors();
  size_t TotalBytes() const;
};

// Names, shapes and formats (no data) of a model whose matrices are all in
// `format`; norms are F32. Fails if the shape does not divide into blocks.
absl::StatusOr<ModelWeights> DescribeWeights(const ModelConfig& config, Format format);

// DescribeWeights, backed by one allocation with each tensor 64-byte aligned.
// The bytes are left unwritten. ResourceExhausted when the model does not
// fit in the memory the host has available.
absl::StatusOr<ModelWeights> AllocateWeights(const ModelConfig& config, Format format);

// Checks that every tensor has the shape the config implies, a supported
// format whose blocks divide its rows, and data.
absl::Status CheckWeights(const ModelWeights& weights);

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_MODEL_WEIGHTS_H_
