// Decode-sized matrix products on the GPU: y[n][rows] = x[n][cols] . w^T for
// n <= kMaxMatVecTokens, every weight format, reading the weights once for
// all n tokens (speculative verification runs several tokens at once).
//
// Two kinds of kernel, one block of threads per row of weights, the row first
// copied whole into shared memory with asynchronous 16-byte copies (so that
// every byte of it is in flight at once, whatever the format's block
// alignment):
//  - Q8_0, Q4_K and Q2_K take activations quantized to 8 bits in blocks of
//    32 (QuantizedActivations; LaunchQuantizeActivations makes them) and
//    multiply 4 weights by 4 activations per integer instruction (dp4a), the
//    block scales and minimums applied once per 16 or 32 weights;
//  - F16 multiplies in f32 with the f32 activations.
// Rows that cannot be copied that way (not a multiple of 16 bytes, or larger
// than a block's shared memory), and the other formats, take a plain kernel:
// a warp per row, eight weights at a time in f32.
#ifndef AISCORE_AGENT_CUDA_MAT_VEC_CUH_
#define AISCORE_AGENT_CUDA_MAT_VEC_CUH_

#include <cuda_runtime.h>

#include <cstdint>

#include "agent/engine/weight_tensor.h"

namespace aiscore::cuda {

inline constexpr int64_t kMaxMatVecTokens = 8;

// Activations quantized for the integer kernels: for token t, values
// [t * cols, (t + 1) * cols) and blocks [t * cols / 32, (t + 1) * cols / 32).
// Block k of a token covers values [32 k, 32 k + 32): value i is about
// d * q[i]; y and z are d times the sum of q over its first and last 16.
struct QuantizedActivations {
  int8_t* values = nullptr;
  float4* blocks = nullptr;  // {d, d * sum q[0..16), d * sum q[16..32), 0}
  int64_t capacity = 0;      // values (n * cols) the buffers hold
};
inline constexpr int64_t kQuantizedActivationBlock = 32;

// Whether LaunchMatVecQuantized takes `w` (host-side check of format,
// alignment and size); when not, LaunchMatVec does.
bool MatVecTakesQuantizedActivations(const WeightTensor& w);

// Quantizes x [n][cols] (cols a multiple of 32, n * cols <= q.capacity).
cudaError_t LaunchQuantizeActivations(const float* x, int64_t n, int64_t cols,
                                      const QuantizedActivations& q, cudaStream_t stream);

// y [n][w.rows] = q . w^T, q holding n tokens of w.cols values; w must pass
// MatVecTakesQuantizedActivations (cudaErrorNotSupported otherwise).
cudaError_t LaunchMatVecQuantized(const WeightTensor& w, const QuantizedActivations& q, int64_t n,
                                  float* y, cudaStream_t stream);

// w: device rows; x: device [n][w.cols] floats; y: device [n][w.rows].
// cudaErrorInvalidValue when n is outside 1..kMaxMatVecTokens.
cudaError_t LaunchMatVec(const WeightTensor& w, const float* x, int64_t n, float* y,
                         cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_MAT_VEC_CUH_
