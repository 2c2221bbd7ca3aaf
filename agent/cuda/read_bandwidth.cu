#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/read_bandwidth.cuh"

namespace aiscore::cuda {
namespace {

// A grid-stride loop with four independent 16-byte loads in flight per thread.
__global__ void ReadKernel(const uint4* data, int64_t words, uint32_t* sink) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  uint32_t acc = 0;
  for (; i + 3 * stride < words; i += 4 * stride) {
    const uint4 a = __ldcs(data + i), b = __ldcs(data + i + stride);
    const uint4 c = __ldcs(data + i + 2 * stride), d = __ldcs(data + i + 3 * stride);
    acc ^= a.x ^ a.y ^ a.z ^ a.w ^ b.x ^ b.y ^ b.z ^ b.w ^ c.x ^ c.y ^ c.z ^ c.w ^ d.x ^ d.y ^ d.z ^
           d.w;
  }
  for (; i < words; i += stride) {
    const uint4 a = __ldcs(data + i);
    acc ^= a.x ^ a.y ^ a.z ^ a.w;
  }
  if (acc == 0x9e3779b9u) *sink = acc;  // almost never taken; keeps the loads
}

}  // namespace

cudaError_t LaunchReadBuffer(const void* data, size_t bytes, uint32_t* sink, int multiprocessors,
                             cudaStream_t stream) {
  const int64_t words = static_cast<int64_t>(bytes / 16);
  if (words <= 0) return cudaSuccess;
  const unsigned blocks = static_cast<unsigned>(4 * (multiprocessors > 0 ? multiprocessors : 1));
  ReadKernel<<<blocks, 512, 0, stream>>>(static_cast<const uint4*>(data), words, sink);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
