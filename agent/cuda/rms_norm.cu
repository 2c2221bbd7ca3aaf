#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/rms_norm.cuh"

namespace aiscore::cuda {
namespace {

// One block per row; the sum of squares is reduced over the block.
__global__ void RmsNormKernel(const float* x, const float* weight, int64_t d, float eps,
                              float* out) {
  __shared__ float scratch[32];
  const float* row = x + blockIdx.x * d;
  float sum = 0.0f;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) sum += row[c] * row[c];
  sum = BlockSum(sum, scratch);
  const float scale = 1.0f / sqrtf(sum / static_cast<float>(d) + eps);
  float* o = out + blockIdx.x * d;
  for (int64_t c = threadIdx.x; c < d; c += blockDim.x) o[c] = row[c] * scale * weight[c];
}

}  // namespace

cudaError_t LaunchRmsNorm(const float* x, const float* weight, int64_t n, int64_t d, float eps,
                          float* out, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  RmsNormKernel<<<static_cast<unsigned>(n), 256, 0, stream>>>(x, weight, d, eps, out);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
