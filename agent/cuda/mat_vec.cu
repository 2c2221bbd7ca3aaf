#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/mat_vec.cuh"
#include "agent/cuda/quant_device.cuh"

namespace aiscore::cuda {
namespace {

constexpr int kRowsPerBlock = 4;  // one warp per row

// Adds the dot products of eight weights with eight activations of each of
// the first n (<= kMaxN) tokens, starting at column `col`.
template <int kMaxN>
__device__ __forceinline__ void Accumulate(const float w[8], const float* x, int64_t cols,
                                           int64_t col, int n, bool aligned, float acc[kMaxN]) {
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) {
    if (t < n) {
      const float* xt = x + t * cols + col;
      float v[8];
      if (aligned) {
        const float4 a = __ldg(reinterpret_cast<const float4*>(xt));
        const float4 b = __ldg(reinterpret_cast<const float4*>(xt) + 1);
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
        v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
      } else {
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = __ldg(xt + k);
      }
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[t] = fmaf(w[k], v[k], acc[t]);
    }
  }
}

// A warp per row: lanes take the row's groups of eight weights in turn, then
// the warp sums each token's partial dot products.
template <Format F, int kMaxN>
__global__ void __launch_bounds__(kRowsPerBlock* kWarpSize)
    MatVecKernel(const uint8_t* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                 int n, float* y) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  if (r >= rows) return;
  const uint8_t* row = w + r * row_bytes;
  // Rows of activations start 16-byte aligned when cols is a multiple of 4.
  const bool aligned = cols % 4 == 0 && (reinterpret_cast<uintptr_t>(x) & 15) == 0;
  float acc[kMaxN];
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) acc[t] = 0.0f;
  const int64_t groups = cols / 8;
  for (int64_t u = lane; u < groups; u += kWarpSize) {
    float wv[8];
    DeviceFormat<F>::Group8(row, u, wv);
    Accumulate<kMaxN>(wv, x, cols, 8 * u, n, aligned, acc);
  }
  for (int64_t c = 8 * groups + lane; c < cols; c += kWarpSize) {  // plain formats' tail
    const float v = ValueAt<F>(row, c);
#pragma unroll
    for (int t = 0; t < kMaxN; ++t) {
      if (t < n) acc[t] = fmaf(v, x[t * cols + c], acc[t]);
    }
  }
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) {
    if (t < n) {
      const float sum = WarpSum(acc[t]);
      if (lane == 0) y[t * rows + r] = sum;
    }
  }
}

}  // namespace

cudaError_t LaunchMatVec(const WeightTensor& w, const float* x, int64_t n, float* y,
                         cudaStream_t stream) {
  if (n < 1 || n > kMaxMatVecTokens) return cudaErrorInvalidValue;
  if (w.rows <= 0) return cudaSuccess;
  const unsigned blocks = GridFor(w.rows, kRowsPerBlock);
  const auto* data = static_cast<const uint8_t*>(w.data);
  const bool known = DispatchFormat(w.format, [&]<Format F>() {
    if (n == 1) {
      MatVecKernel<F, 1><<<blocks, kRowsPerBlock * kWarpSize, 0, stream>>>(data, w.row_bytes(),
                                                                           w.rows, w.cols, x, 1, y);
    } else {
      MatVecKernel<F, kMaxMatVecTokens><<<blocks, kRowsPerBlock * kWarpSize, 0, stream>>>(
          data, w.row_bytes(), w.rows, w.cols, x, static_cast<int>(n), y);
    }
  });
  return known ? cudaGetLastError() : cudaErrorNotSupported;
}

}  // namespace aiscore::cuda
