#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/embed.cuh"
#include "agent/cuda/quant_device.cuh"

namespace aiscore::cuda {
namespace {

// One block per token; threads take groups of eight weights in turn.
template <Format F>
__global__ void EmbedKernel(const uint8_t* table, size_t row_bytes, int64_t rows, int64_t cols,
                            const int32_t* ids, float* out) {
  const int64_t i = blockIdx.x;
  const int32_t id = ids[i];
  float* o = out + i * cols;
  if (id < 0 || id >= rows) {
    for (int64_t c = threadIdx.x; c < cols; c += blockDim.x) o[c] = 0.0f;
    return;
  }
  const uint8_t* row = table + static_cast<size_t>(id) * row_bytes;
  const int64_t groups = cols / 8;
  for (int64_t u = threadIdx.x; u < groups; u += blockDim.x) {
    float w[8];
    DeviceFormat<F>::Group8(row, u, w);
#pragma unroll
    for (int k = 0; k < 8; ++k) o[8 * u + k] = w[k];
  }
  for (int64_t c = 8 * groups + threadIdx.x; c < cols; c += blockDim.x) {
    o[c] = ValueAt<F>(row, c);
  }
}

}  // namespace

cudaError_t LaunchEmbed(const WeightTensor& table, const int32_t* ids, int64_t n, float* out,
                        cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  const bool known = DispatchFormat(table.format, [&]<Format F>() {
    EmbedKernel<F><<<static_cast<unsigned>(n), 256, 0, stream>>>(
        static_cast<const uint8_t*>(table.data), table.row_bytes(), table.rows, table.cols, ids,
        out);
  });
  return known ? cudaGetLastError() : cudaErrorNotSupported;
}

}  // namespace aiscore::cuda
