#include <cuda_fp16.h>

#include <algorithm>
#include <cmath>

#include "agent/cuda/attention.cuh"
#include "agent/cuda/cuda_common.cuh"

namespace aiscore::cuda {
namespace {

constexpr int kWarps = 4;  // warps per block, each taking every 4th position
constexpr int kMaxDimsPerLane = kMaxAttentionHeadDim / kWarpSize;

// Grid: (query head, query token, split). Lane l holds dims [l D, l D + D)
// of the head, D = head_dim / 32. Writes the normalized output when there is
// one split, else the split's (max, sum, unnormalized output) to `partial`.
__global__ void __launch_bounds__(kWarps* kWarpSize)
    AttentionKernel(const float* q, const __half* k_cache, const __half* v_cache, int64_t pos,
                    int64_t n_heads, int64_t n_kv_heads, int64_t head_dim, int64_t splits,
                    int64_t chunk, float scale, float* partial, float* out) {
  __shared__ float warp_m[kWarps], warp_l[kWarps];
  __shared__ float warp_o[kWarps][kMaxAttentionHeadDim];
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
  const int64_t h = blockIdx.x, t = blockIdx.y, s = blockIdx.z;
  const int64_t group = n_heads / n_kv_heads, kv = h / group;
  const int64_t kv_dim = n_kv_heads * head_dim, dims = head_dim / kWarpSize;
  const int64_t len = pos + t + 1;
  const int64_t begin = s * chunk, end = min(len, begin + chunk);

  float qv[kMaxDimsPerLane], o[kMaxDimsPerLane];
  const float* qh = q + (t * n_heads + h) * head_dim + lane * dims;
#pragma unroll
  for (int d = 0; d < kMaxDimsPerLane; ++d) {
    qv[d] = d < dims ? qh[d] * scale : 0.0f;
    o[d] = 0.0f;
  }
  float m = -INFINITY, l = 0.0f;
  for (int64_t p = begin + warp; p < end; p += kWarps) {
    const __half* kr = k_cache + p * kv_dim + kv * head_dim + lane * dims;
    const __half* vr = v_cache + p * kv_dim + kv * head_dim + lane * dims;
    float dot = 0.0f;
#pragma unroll
    for (int d = 0; d < kMaxDimsPerLane; ++d) {
      if (d < dims) dot = fmaf(qv[d], __half2float(kr[d]), dot);
    }
    const float score = WarpSum(dot);
    const float m_new = fmaxf(m, score);
    const float correction = expf(m - m_new), weight = expf(score - m_new);
    l = l * correction + weight;
#pragma unroll
    for (int d = 0; d < kMaxDimsPerLane; ++d) {
      if (d < dims) o[d] = o[d] * correction + weight * __half2float(vr[d]);
    }
    m = m_new;
  }
  // Merge the warps.
  if (lane == 0) {
    warp_m[warp] = m;
    warp_l[warp] = l;
  }
#pragma unroll
  for (int d = 0; d < kMaxDimsPerLane; ++d) {
    if (d < dims) warp_o[warp][lane * dims + d] = o[d];
  }
  __syncthreads();
  float block_m = -INFINITY;
  for (int w = 0; w < kWarps; ++w) block_m = fmaxf(block_m, warp_m[w]);
  float block_l = 0.0f, factor[kWarps];
  for (int w = 0; w < kWarps; ++w) {
    factor[w] = block_m == -INFINITY ? 0.0f : expf(warp_m[w] - block_m);
    block_l += warp_l[w] * factor[w];
  }
  const int64_t row = t * n_heads + h;
  if (splits == 1) {
    const float inv = block_l > 0.0f ? 1.0f / block_l : 0.0f;
    for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
      float acc = 0.0f;
      for (int w = 0; w < kWarps; ++w) acc += warp_o[w][d] * factor[w];
      out[row * head_dim + d] = acc * inv;
    }
    return;
  }
  float* part = partial + (row * splits + s) * (head_dim + 2);
  if (threadIdx.x == 0) {
    part[0] = block_m;
    part[1] = block_l;
  }
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int w = 0; w < kWarps; ++w) acc += warp_o[w][d] * factor[w];
    part[2 + d] = acc;
  }
}

// Grid: (query head, query token); one thread per dim merges the splits.
__global__ void MergeSplitsKernel(const float* partial, int64_t n_heads, int64_t head_dim,
                                  int64_t splits, float* out) {
  const int64_t row = static_cast<int64_t>(blockIdx.y) * n_heads + blockIdx.x;
  const float* part = partial + row * splits * (head_dim + 2);
  float m = -INFINITY;
  for (int64_t s = 0; s < splits; ++s) m = fmaxf(m, part[s * (head_dim + 2)]);
  float l = 0.0f;
  for (int64_t s = 0; s < splits; ++s) {
    const float ms = part[s * (head_dim + 2)];
    if (ms != -INFINITY) l += part[s * (head_dim + 2) + 1] * expf(ms - m);
  }
  const float inv = l > 0.0f ? 1.0f / l : 0.0f;
  for (int64_t d = threadIdx.x; d < head_dim; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t s = 0; s < splits; ++s) {
      const float ms = part[s * (head_dim + 2)];
      if (ms != -INFINITY) acc += part[s * (head_dim + 2) + 2 + d] * expf(ms - m);
    }
    out[row * head_dim + d] = acc * inv;
  }
}

}  // namespace

int64_t AttentionSplits(const AttentionGeometry& g, int multiprocessors, int64_t scratch_floats) {
  const int64_t blocks = g.n * g.n_heads;
  const int64_t longest = g.pos + g.n;
  // Enough blocks for about four per multiprocessor, and at least 128
  // positions per split so that each warp has work.
  int64_t splits = std::min((4 * static_cast<int64_t>(multiprocessors) + blocks - 1) / blocks,
                            (longest + 127) / 128);
  splits = std::max<int64_t>(splits, 1);
  while (splits > 1 && AttentionScratchFloats(g, splits) > scratch_floats) splits /= 2;
  return splits;
}

int64_t AttentionScratchFloats(const AttentionGeometry& g, int64_t splits) {
  return splits <= 1 ? 0 : g.n * g.n_heads * splits * (g.head_dim + 2);
}

cudaError_t LaunchAttention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache,
                            const AttentionGeometry& g, int64_t splits, float* scratch, float* out,
                            cudaStream_t stream) {
  if (g.n <= 0) return cudaSuccess;
  if (g.head_dim % kWarpSize != 0 || g.head_dim > kMaxAttentionHeadDim || g.n > 65535 ||
      g.n_kv_heads <= 0 || g.n_heads % g.n_kv_heads != 0 || splits < 1 || splits > 65535) {
    return cudaErrorInvalidValue;
  }
  const int64_t longest = g.pos + g.n;
  const int64_t chunk = (longest + splits - 1) / splits;
  const float scale = 1.0f / std::sqrt(static_cast<float>(g.head_dim));
  const dim3 grid(static_cast<unsigned>(g.n_heads), static_cast<unsigned>(g.n),
                  static_cast<unsigned>(splits));
  AttentionKernel<<<grid, kWarps * kWarpSize, 0, stream>>>(
      q, reinterpret_cast<const __half*>(k_cache), reinterpret_cast<const __half*>(v_cache), g.pos,
      g.n_heads, g.n_kv_heads, g.head_dim, splits, chunk, scale, scratch, out);
  if (splits == 1) return cudaGetLastError();
  if (cudaError_t e = cudaGetLastError(); e != cudaSuccess) return e;
  const dim3 merge_grid(static_cast<unsigned>(g.n_heads), static_cast<unsigned>(g.n));
  MergeSplitsKernel<<<merge_grid, 128, 0, stream>>>(scratch, g.n_heads, g.head_dim, splits, out);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
