#include "agent/cuda/gemm.h"

#include <algorithm>

#include "absl/strings/str_format.h"
#include "agent/cuda/cuda_status.h"
#include "agent/cuda/to_half.cuh"

namespace aiscore::cuda {

GemmChunks PlanGemm(const WeightTensor& w, int64_t n, const GemmScratch& scratch) {
  GemmChunks c;
  if (w.cols <= 0) return c;
  c.rows = w.format == Format::kF16 ? w.rows : std::min(w.rows, scratch.weight_capacity / w.cols);
  c.tokens = std::min(n, scratch.activation_capacity / w.cols);
  return c;
}

absl::Status RunGemm(cublasHandle_t handle, const WeightTensor& w, const float* x, int64_t n,
                     float* y, const GemmScratch& scratch, cudaStream_t stream) {
  const GemmChunks chunks = PlanGemm(w, n, scratch);
  if (chunks.rows <= 0 || chunks.tokens <= 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a %d x %d matrix product has rows longer than the GPU scratch holds", w.rows, w.cols));
  }
  const float one = 1.0f, zero = 0.0f;
  const auto* base = static_cast<const uint8_t*>(w.data);
  for (int64_t t0 = 0; t0 < n; t0 += chunks.tokens) {
    const int64_t tokens = std::min(chunks.tokens, n - t0);
    if (absl::Status s = AISCORE_CUDA_STATUS(
            LaunchFloatToHalf(x + t0 * w.cols, tokens * w.cols, scratch.activations, stream));
        !s.ok()) {
      return s;
    }
    for (int64_t r0 = 0; r0 < w.rows; r0 += chunks.rows) {
      const int64_t rows = std::min(chunks.rows, w.rows - r0);
      const void* a = base + r0 * w.row_bytes();
      if (w.format != Format::kF16) {
        if (absl::Status s = AISCORE_CUDA_STATUS(LaunchDequantizeToHalf(
                w.format, a, w.row_bytes(), rows, w.cols, scratch.weights, stream));
            !s.ok()) {
          return s;
        }
        a = scratch.weights;
      }
      // Column-major view: C[rows][tokens] (ldc = w.rows) = A^T . B with A
      // the [cols][rows] view of the weight rows and B the [cols][tokens]
      // view of the activations.
      if (absl::Status s = AISCORE_CUBLAS_STATUS(
              cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, static_cast<int>(rows),
                           static_cast<int>(tokens), static_cast<int>(w.cols), &one, a, CUDA_R_16F,
                           static_cast<int>(w.cols), scratch.activations, CUDA_R_16F,
                           static_cast<int>(w.cols), &zero, y + t0 * w.rows + r0, CUDA_R_32F,
                           static_cast<int>(w.rows), CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
          !s.ok()) {
        return s;
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace aiscore::cuda
