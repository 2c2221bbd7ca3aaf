// Where a model comes from: a GGUF file, or a named shape whose weights are
// synthesized. The command line and the runner name models this way.
#ifndef AISCORE_AGENT_ENGINE_MODEL_SOURCE_H_
#define AISCORE_AGENT_ENGINE_MODEL_SOURCE_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "agent/engine/backend.h"
#include "agent/engine/model_weights.h"
#include "agent/engine/synthetic_weights.h"
#include "agent/quant/format.h"

namespace aiscore {

// `spec` is a path to a .gguf file (format and seed are then ignored) or a
// preset name (ModelPresetNames()) synthesized in `format` from `seed` for
// `backend` (SynthesizeWeightsFor: in its memory and layout where it can,
// so that Session::Create makes no second copy).
absl::StatusOr<ModelWeights> LoadModel(Backend& backend, const std::string& spec, Format format,
                                       uint64_t seed = kDefaultSyntheticSeed);

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_MODEL_SOURCE_H_
