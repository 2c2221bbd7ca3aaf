// Llama-architecture models stored as GGUF: load one into ModelWeights, or
// write ModelWeights as a GGUF file that llama.cpp loads.
//
// LoadGgufModel maps the file (GgufFile) and points every tensor of the
// returned ModelWeights into the mapping, so loading costs no copy and a model
// larger than host memory still loads; the ModelWeights' storage keeps the
// mapping alive for as long as any copy of it exists. Which keys are read, which
// tensors are required, what is refused (rope scaling, biases, experts, tensor
// types aiscore does not compute with) and the error codes are in docs/gguf.md.
// Both functions are thread-compatible: they share no state.
#ifndef AISCORE_AGENT_ENGINE_GGUF_MODEL_H_
#define AISCORE_AGENT_ENGINE_GGUF_MODEL_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/engine/model_weights.h"
#include "agent/quant/format.h"

namespace aiscore {

// Loads a GGUF `llama` model. Errors name the file and the key or tensor at
// fault. Codes: those of GgufFile::Open; Unimplemented for another
// architecture, a tensor type other than F32/F16/Q8_0/Q4_K/Q2_K, and features
// that would change results (rope scaling, biases, experts); NotFound for a
// missing required key or tensor; InvalidArgument for a key of the wrong
// type, an unexpected tensor, or shapes that disagree with the metadata.
absl::StatusOr<ModelWeights> LoadGgufModel(const std::string& path);

// Writes `weights` (which must pass CheckWeights) as GGUF v3. The file is
// written under a temporary name in the same directory and renamed into place
// once complete, so `path` never holds a partial file. A model whose output
// head shares token_embd's bytes (tied embeddings) is written without
// output.weight. I/O failures are returned (ResourceExhausted when the disk is
// full).
absl::Status WriteGgufModel(const ModelWeights& weights, const std::string& path);

// llama.cpp's general.file_type (LLAMA_FTYPE_*) for a model mostly in `format`:
// ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_Q2_K 10, MOSTLY_Q4_K_M 15.
uint32_t GgufFileType(Format format);

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_GGUF_MODEL_H_
