#include "agent/cuda/argmax.cuh"
#include "agent/cuda/cuda_common.cuh"

namespace aiscore::cuda {
namespace {

// (value, index) that wins: larger value, then lower index.
__device__ __forceinline__ bool Better(float v, int64_t i, float best, int64_t best_i) {
  return v > best || (v == best && i < best_i);
}

// One block per row: each thread scans a strided slice, then the block reduces.
__global__ void ArgmaxKernel(const float* x, int64_t cols, int32_t* out) {
  __shared__ float values[32];
  __shared__ int64_t indices[32];
  const float* row = x + blockIdx.x * cols;
  float best = -INFINITY;
  int64_t best_i = cols;  // none yet
  for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) {
    if (Better(row[c], c, best, best_i)) best = row[c], best_i = c;
  }
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    const float v = __shfl_xor_sync(0xffffffffu, best, offset);
    const int64_t i = __shfl_xor_sync(0xffffffffu, best_i, offset);
    if (Better(v, i, best, best_i)) best = v, best_i = i;
  }
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  if (lane == 0) values[warp] = best, indices[warp] = best_i;
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < static_cast<int>(blockDim.x / kWarpSize); ++w) {
      if (Better(values[w], indices[w], best, best_i)) best = values[w], best_i = indices[w];
    }
    // A row of only NaN or -inf: the first index, as std::max_element gives.
    out[blockIdx.x] = static_cast<int32_t>(best_i < cols ? best_i : 0);
  }
}

}  // namespace

cudaError_t LaunchArgmax(const float* x, int64_t n, int64_t cols, int32_t* out,
                         cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  ArgmaxKernel<<<static_cast<unsigned>(n), 256, 0, stream>>>(x, cols, out);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
