// Named shapes of published models, for predictions by name ("llama-3.1-8b")
// instead of by an explicit ModelShape (collector.proto, PredictRequest).
//
// Each preset is the model's Llama-architecture shape as the engine and the
// memory model see it (suite.proto, ModelShape: head_dim = d_model / n_heads,
// grouped-query K/V, SwiGLU, untied output head, RMSNorm), taken from the
// model's config.json on Hugging Face; `source` names that file and says where
// the Llama shape approximates the model (tied embeddings, q/k/v biases).
// Models whose attention width is not d_model (Mistral-NeMo, Gemma 2) are left
// out: this shape would misstate their KV cache, the one figure the presets
// exist to get right.
//
// The table is built once, on first use, and never changes: thread-safe.
#ifndef AISCORE_SCORING_MODEL_PRESETS_H_
#define AISCORE_SCORING_MODEL_PRESETS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "aiscore/v1/suite.pb.h"

namespace aiscore {

// One row of the table. Named ModelPresetEntry, not ModelPreset, because
// agent/engine/model_config.h (included by suites/suite_loader.h) declares a
// function aiscore::ModelPreset that would hide a struct of that name.
struct ModelPresetEntry {
  std::string name;      // "llama-3.1-8b"; lower case, unique
  v1::ModelShape shape;  // shape.name == name; max_context = the model's context, tokens
  std::string source;    // where the figures come from, and how the shape approximates the model
  // Parameters the model card states (safetensors total), for checking the
  // shape; the suite's own shapes state what the suite file says.
  int64_t published_parameters = 0;
  // True when the model shares its embedding table with the output head: the
  // shape counts both, so its weights exceed the model's by vocab x d_model.
  bool tied_embeddings = false;
};

// Every preset, in a fixed order (families, then size); at least 12.
const std::vector<ModelPresetEntry>& ModelPresets();

// The preset named `name`, compared case-insensitively; nullptr if none.
const ModelPresetEntry* FindModelPreset(std::string_view name);

}  // namespace aiscore

#endif  // AISCORE_SCORING_MODEL_PRESETS_H_
