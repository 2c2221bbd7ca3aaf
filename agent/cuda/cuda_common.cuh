// Small device helpers every kernel of the CUDA backend uses: warp and block
// reductions and grid sizing. Kernels are launched with 32-thread warps and
// at most 1024 threads per block.
#ifndef AISCORE_AGENT_CUDA_CUDA_COMMON_CUH_
#define AISCORE_AGENT_CUDA_CUDA_COMMON_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace aiscore::cuda {

inline constexpr int kWarpSize = 32;

// Sum over the 32 lanes of a warp; every lane gets the result.
__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, offset));
  }
  return v;
}

// Sum over all threads of the block (blockDim.x a multiple of 32); every
// thread gets the result. `scratch` holds 32 floats of shared memory.
__device__ __forceinline__ float BlockSum(float v, float* scratch) {
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int warps = blockDim.x / kWarpSize;
  v = WarpSum(v);
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  v = lane < warps ? scratch[lane] : 0.0f;
  return WarpSum(v);
}

// Whether p may be read or written 16 bytes at a time.
__host__ __device__ __forceinline__ bool Aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15) == 0;
}

// Blocks of `threads` that cover `n` items (at least one).
inline unsigned GridFor(int64_t n, int threads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(blocks > 0 ? blocks : 1);
}

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_CUDA_COMMON_CUH_
