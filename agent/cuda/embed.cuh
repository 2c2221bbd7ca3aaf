// Embedding lookup on the GPU: out[i][:] = dequantized row ids[i] of a table
// in any weight format.
#ifndef AISCORE_AGENT_CUDA_EMBED_CUH_
#define AISCORE_AGENT_CUDA_EMBED_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "agent/engine/weight_tensor.h"

namespace aiscore::cuda {

// table: device rows [vocab][cols]; ids: device [n]; out: device [n][cols].
// Ids outside [0, table.rows) give rows of zeros (the session checks ids first).
cudaError_t LaunchEmbed(const WeightTensor& table, const int32_t* ids, int64_t n, float* out,
                        cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_EMBED_CUH_
