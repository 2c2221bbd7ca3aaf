#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/swiglu.cuh"

namespace aiscore::cuda {
namespace {

__global__ void SwiGluKernel(const float* gate, const float* up, int64_t count, float* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  const float g = gate[i];
  out[i] = g / (1.0f + expf(-g)) * up[i];
}

}  // namespace

cudaError_t LaunchSwiGlu(const float* gate, const float* up, int64_t count, float* out,
                         cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  SwiGluKernel<<<GridFor(count, 256), 256, 0, stream>>>(gate, up, count, out);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
