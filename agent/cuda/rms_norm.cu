#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/rms_norm.cuh"

namespace aiscore::cuda {
namespace {

constexpr int kThreads = 1024;

// One block per row; the sum of squares is reduced over the block. Each
// thread reads four values at a time when rows allow it (d a multiple of 4,
// every pointer 16-byte aligned): a decode row (d = 4096) is then one load a
// thread, where one value at a time left a thread waiting on four to sixteen
// loads in turn.
__global__ void __launch_bounds__(kThreads)
    RmsNormKernel(const float* x, const float* weight, int64_t d, float eps, bool vec, float* out) {
  __shared__ float scratch[32];
  const float* row = x + blockIdx.x * d;
  float* o = out + blockIdx.x * d;
  float sum = 0.0f;
  if (vec) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    for (int64_t c = threadIdx.x; c < d / 4; c += kThreads) {
      const float4 v = r4[c];
      sum += v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w;
    }
  } else {
    for (int64_t c = threadIdx.x; c < d; c += kThreads) sum += row[c] * row[c];
  }
  sum = BlockSum(sum, scratch);
  const float scale = 1.0f / sqrtf(sum / static_cast<float>(d) + eps);
  if (vec) {
    const float4* r4 = reinterpret_cast<const float4*>(row);
    const float4* w4 = reinterpret_cast<const float4*>(weight);
    float4* o4 = reinterpret_cast<float4*>(o);
    for (int64_t c = threadIdx.x; c < d / 4; c += kThreads) {
      const float4 v = r4[c], w = w4[c];
      o4[c] =
          make_float4(v.x * scale * w.x, v.y * scale * w.y, v.z * scale * w.z, v.w * scale * w.w);
    }
  } else {
    for (int64_t c = threadIdx.x; c < d; c += kThreads) o[c] = row[c] * scale * weight[c];
  }
}

}  // namespace

cudaError_t LaunchRmsNorm(const float* x, const float* weight, int64_t n, int64_t d, float eps,
                          float* out, cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const bool vec = d % 4 == 0 && Aligned16(x) && Aligned16(weight) && Aligned16(out);
  RmsNormKernel<<<static_cast<unsigned>(n), kThreads, 0, stream>>>(x, weight, d, eps, vec, out);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
