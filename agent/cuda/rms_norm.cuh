// RMSNorm on the GPU: out[i] = x[i] / sqrt(mean(x[i]^2) + eps) * weight.
#ifndef AISCORE_AGENT_CUDA_RMS_NORM_CUH_
#define AISCORE_AGENT_CUDA_RMS_NORM_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace aiscore::cuda {

// x, out: device [n][d]; weight: device F32 [d]. out may equal x.
cudaError_t LaunchRmsNorm(const float* x, const float* weight, int64_t n, int64_t d, float eps,
                          float* out, cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_RMS_NORM_CUH_
