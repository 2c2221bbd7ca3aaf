// Synthetic model weights: a deterministic function of (model shape, format,
// seed), the same bytes on every machine, fast enough to make a 7B model in
// seconds. docs/synthetic.md defines the generator so that other
// implementations (the CUDA one) can produce identical bytes.
//
// Every block is valid and generated directly in its format (no float model
// is quantized); values are scaled so that activations stay finite through
// every layer: matrices have standard deviation 1/sqrt(cols), embeddings 1,
// norm weights are 1. Thread-safe; uses all host cores.
#ifndef AISCORE_AGENT_ENGINE_SYNTHETIC_WEIGHTS_H_
#define AISCORE_AGENT_ENGINE_SYNTHETIC_WEIGHTS_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/engine/backend.h"
#include "agent/engine/model_config.h"
#include "agent/engine/model_weights.h"
#include "agent/quant/format.h"

namespace aiscore {

inline constexpr uint64_t kDefaultSyntheticSeed = 0x61697363u;  // "aisc"

absl::StatusOr<ModelWeights> SynthesizeWeights(const ModelConfig& config, Format format,
                                               uint64_t seed = kDefaultSyntheticSeed,
                                               int threads = 0);

// The same weights for `backend`: generated in its device memory where it can
// (Backend::SynthesizeOnDevice), else on the host, as PrepareWeights takes them.
absl::StatusOr<ModelWeights> SynthesizeWeightsFor(Backend& backend, const ModelConfig& config,
                                                  Format format,
                                                  uint64_t seed = kDefaultSyntheticSeed);

// The generator's pieces, exposed for tests and for other implementations
// (synthetic_block.h holds the per-block code the GPU shares).
// How tensor `x` of `w` is made: values of standard deviation `stddev`, or
// all ones (norm weights).
struct SyntheticTensorPlan {
  float stddev;
  bool ones;
};
SyntheticTensorPlan SyntheticPlan(const ModelWeights& w, const WeightTensor& x);
// A 64-bit mix of (seed, tensor index, block index): the start of a block's stream.
uint64_t SyntheticBlockKey(uint64_t seed, uint64_t tensor_index, uint64_t block_index);
// Writes one block of a quantized format (Q8_0, Q4_K, Q2_K) whose values
// should have standard deviation `stddev`, from the stream starting at `key`.
void SynthesizeBlock(Format format, float stddev, uint64_t key, void* block);
// Writes `count` F16 or F32 values from the stream starting at `key`. Plain
// formats are generated in runs of kSyntheticRun values, the run index taking
// the place of the block index.
void SynthesizeValues(Format format, float stddev, uint64_t key, void* out, int64_t count);
inline constexpr int64_t kSyntheticRun = 1 << 19;

// `n` token ids in [0, vocab) from `seed` (a 64-bit LCG, high bits): the
// prompts of benchmarks, the same on every machine.
std::vector<int32_t> SyntheticTokens(int64_t n, int64_t vocab, uint64_t seed);

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_SYNTHETIC_WEIGHTS_H_
