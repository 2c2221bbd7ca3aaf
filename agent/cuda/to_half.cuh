// Conversions to F16 for the tensor-core matrix products: weight rows of any
// format dequantized to F16, and F32 activations rounded to F16.
#ifndef AISCORE_AGENT_CUDA_TO_HALF_CUH_
#define AISCORE_AGENT_CUDA_TO_HALF_CUH_

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "agent/quant/format.h"

namespace aiscore::cuda {

// rows: device, `n_rows` rows of `row_bytes` bytes holding `cols` weights
// each in `format`; out: device [n_rows][cols] F16.
cudaError_t LaunchDequantizeToHalf(Format format, const void* rows, size_t row_bytes,
                                   int64_t n_rows, int64_t cols, __half* out, cudaStream_t stream);

// out[i] = x[i] rounded to nearest F16, for `count` values.
cudaError_t LaunchFloatToHalf(const float* x, int64_t count, __half* out, cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_TO_HALF_CUH_
