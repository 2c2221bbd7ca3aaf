// Prefill-sized matrix products on tensor cores: y[n][rows] = x[n][cols] .
// w^T through cuBLAS with F16 inputs and F32 accumulation and output.
//
// F16 weights are used where they lie. Other formats are dequantized to F16,
// a chunk of rows at a time, into scratch the backend owns; activations are
// rounded to F16 a chunk of tokens at a time. All work is queued on the
// handle's stream.
#ifndef AISCORE_AGENT_CUDA_GEMM_H_
#define AISCORE_AGENT_CUDA_GEMM_H_

#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <cstdint>

#include "absl/status/status.h"
#include "agent/engine/weight_tensor.h"

namespace aiscore::cuda {

struct GemmScratch {
  __half* weights = nullptr;        // [weight_capacity] dequantized weight rows
  int64_t weight_capacity = 0;      // halves
  __half* activations = nullptr;    // [activation_capacity] activations in F16
  int64_t activation_capacity = 0;  // halves
};

// How a product is cut to fit the scratch: rows of w and tokens of x per
// cuBLAS call (0 when one row or one token does not fit).
struct GemmChunks {
  int64_t rows = 0;
  int64_t tokens = 0;
};
GemmChunks PlanGemm(const WeightTensor& w, int64_t n, const GemmScratch& scratch);

// w: device weights; x: device [n][w.cols]; y: device [n][w.rows].
absl::Status RunGemm(cublasHandle_t handle, const WeightTensor& w, const float* x, int64_t n,
                     float* y, const GemmScratch& scratch, cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_GEMM_H_
