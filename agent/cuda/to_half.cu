#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/quant_device.cuh"
#include "agent/cuda/to_half.cuh"

namespace aiscore::cuda {
namespace {

// One thread per group of eight weights, rows laid end to end.
template <Format F>
__global__ void DequantizeToHalfKernel(const uint8_t* rows, size_t row_bytes, int64_t n_rows,
                                       int64_t cols, __half* out) {
  const int64_t groups_per_row = (cols + 7) / 8;
  const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (g >= n_rows * groups_per_row) return;
  const int64_t r = g / groups_per_row, u = g % groups_per_row;
  const uint8_t* row = rows + r * row_bytes;
  __half* o = out + r * cols + 8 * u;
  if (8 * u + 8 <= cols) {
    float w[8];
    DeviceFormat<F>::Group8(row, u, w);
#pragma unroll
    for (int k = 0; k < 8; ++k) o[k] = __float2half_rn(w[k]);
  } else {
    for (int64_t c = 8 * u; c < cols; ++c) o[c - 8 * u] = __float2half_rn(ValueAt<F>(row, c));
  }
}

__global__ void FloatToHalfKernel(const float* x, int64_t count, __half* out) {
  const int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) out[i] = __float2half_rn(x[i]);
}

}  // namespace

cudaError_t LaunchDequantizeToHalf(Format format, const void* rows, size_t row_bytes,
                                   int64_t n_rows, int64_t cols, __half* out, cudaStream_t stream) {
  const int64_t groups = n_rows * ((cols + 7) / 8);
  if (groups <= 0) return cudaSuccess;
  const bool known = DispatchFormat(format, [&]<Format F>() {
    DequantizeToHalfKernel<F><<<GridFor(groups, 256), 256, 0, stream>>>(
        static_cast<const uint8_t*>(rows), row_bytes, n_rows, cols, out);
  });
  return known ? cudaGetLastError() : cudaErrorNotSupported;
}

cudaError_t LaunchFloatToHalf(const float* x, int64_t count, __half* out, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  FloatToHalfKernel<<<GridFor(count, 256), 256, 0, stream>>>(x, count, out);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
