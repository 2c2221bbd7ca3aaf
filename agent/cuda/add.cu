#include "agent/cuda/add.cuh"
#include "agent/cuda/cuda_common.cuh"

namespace aiscore::cuda {
namespace {

__global__ void AddKernel(float* x, const float* y, int64_t count) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) x[i] += y[i];
}

}  // namespace

cudaError_t LaunchAdd(float* x, const float* y, int64_t count, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  AddKernel<<<GridFor(count, 256), 256, 0, stream>>>(x, y, count);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
