// Decode-sized matrix products on the GPU: y[n][rows] = x[n][cols] . w^T for
// n <= kMaxMatVecTokens, every weight format, reading the weights once for
// all n tokens (speculative verification runs several tokens at once).
#ifndef AISCORE_AGENT_CUDA_MAT_VEC_CUH_
#define AISCORE_AGENT_CUDA_MAT_VEC_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "agent/engine/weight_tensor.h"

namespace aiscore::cuda {

inline constexpr int64_t kMaxMatVecTokens = 8;

// w: device rows; x: device [n][w.cols] floats; y: device [n][w.rows].
// cudaErrorInvalidValue when n is outside 1..kMaxMatVecTokens.
cudaError_t LaunchMatVec(const WeightTensor& w, const float* x, int64_t n, float* y,
                         cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_MAT_VEC_CUH_
