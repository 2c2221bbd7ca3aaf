// Residual add on the GPU: x[i] += y[i].
#ifndef AISCORE_AGENT_CUDA_ADD_CUH_
#define AISCORE_AGENT_CUDA_ADD_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace aiscore::cuda {

// x, y: device [count].
cudaError_t LaunchAdd(float* x, const float* y, int64_t count, cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_ADD_CUH_
