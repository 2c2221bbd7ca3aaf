#include "agent/engine/model_source.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/engine/gguf_model.h"

namespace aiscore {

absl::StatusOr<ModelWeights> LoadModel(Backend& backend, const std::string& spec, Format format,
                                       uint64_t seed) {
  std::error_code ec;
  if (absl::EndsWith(spec, ".gguf") || std::filesystem::is_regular_file(spec, ec)) {
    return LoadGgufModel(spec);
  }
  absl::StatusOr<ModelConfig> config = ModelPreset(spec);
  if (!config.ok()) {
    return absl::NotFoundError(absl::StrCat("'", spec,
                                            "' is neither a GGUF file nor a known model (",
                                            absl::StrJoin(ModelPresetNames(), ", "), ")"));
  }
  return SynthesizeWeightsFor(backend, *config, format, seed);
}

}  // namespace aiscore
