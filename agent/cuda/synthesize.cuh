// Synthetic weights generated on the GPU, byte for byte the tensors
// SynthesizeWeights makes on the host: both run the generator of
// agent/engine/synthetic_block.h.
#ifndef AISCORE_AGENT_CUDA_SYNTHESIZE_CUH_
#define AISCORE_AGENT_CUDA_SYNTHESIZE_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "agent/quant/format.h"

namespace aiscore::cuda {

struct SyntheticTensor {
  Format format = Format::kF16;
  int64_t elements = 0;  // weights in the tensor
  uint64_t seed = 0;     // the model's seed
  uint64_t index = 0;    // the tensor's index in file order
  float stddev = 0.0f;   // SyntheticPlan(...).stddev
  bool ones = false;     // SyntheticPlan(...).ones: F32 all ones
};

// Writes tensor `t` into device memory `out` (its bytes in `t.format`).
cudaError_t LaunchSynthesizeTensor(const SyntheticTensor& t, void* out, cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_SYNTHESIZE_CUH_
