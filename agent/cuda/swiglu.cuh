// SwiGLU on the GPU: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + e^-g).
#ifndef AISCORE_AGENT_CUDA_SWIGLU_CUH_
#define AISCORE_AGENT_CUDA_SWIGLU_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace aiscore::cuda {

// gate, up, out: device [count]; out may equal gate or up.
cudaError_t LaunchSwiGlu(const float* gate, const float* up, int64_t count, float* out,
                         cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_SWIGLU_CUH_
