// Greedy sampling on the GPU: the index of the largest value of each row.
#ifndef AISCORE_AGENT_CUDA_ARGMAX_CUH_
#define AISCORE_AGENT_CUDA_ARGMAX_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace aiscore::cuda {

// x: device [n][cols]; out: device [n]. Ties go to the lowest index, as
// std::max_element gives; NaN values are never chosen over a number.
cudaError_t LaunchArgmax(const float* x, int64_t n, int64_t cols, int32_t* out,
                         cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_ARGMAX_CUH_
