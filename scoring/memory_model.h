// The memory a model needs to run at batch 1, and whether a device holds it
// (DESIGN.md, "Calibration and prediction"; docs/scoring.md, "Memory").
//
// Memory needed = weights + KV cache + activations + runtime overhead:
//   weights      the whole model in the format: every layer matrix, the output
//                head and the full embedding table in the format, the norms
//                (2 per layer and the final one) in F32. Bits per weight come
//                from the format traits table (agent/quant/format.h); "q4_k"
//                means every matrix in Q4_K (the basket's format), not
//                llama.cpp's Q4_K_M mix.
//   KV cache     F16 K and V for context_tokens, grouped-query aware:
//                KvBytesPerToken (scoring/reference_values.h) x tokens, with
//                KvBytesPerToken = 2 x n_layers x n_kv_heads x head_dim x 2.
//   activations  the engine's scratch for one micro-batch of
//                b = min(kMicroBatch, context_tokens) tokens (agent/engine/
//                session.h, SessionOverheadBytes less its cache), in F32:
//                  b x 4 x (3 d_model + 2 n_heads head_dim + 2 kv_dim
//                           + 2 d_ff + vocab_size)  + 4 (b + 1)
//                (residual, normed input and projection output; query and
//                attention output; K and V rows; SwiGLU gate and up; the
//                micro-batch's logits; token ids and the argmax). Attention
//                is fused, so no [n_heads][b][context] score matrix is held;
//                an engine that materialises one needs 4 x n_heads x b x
//                context bytes more, which this model does not include.
//   overhead     what the runtime holds besides (CUDA context, kernels,
//                allocator slack): MemoryCalibration::overhead_bytes.
//
// Pure functions of their arguments; thread-safe.
#ifndef AISCORE_SCORING_MEMORY_MODEL_H_
#define AISCORE_SCORING_MEMORY_MODEL_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "aiscore/v1/suite.pb.h"

namespace aiscore {

// Tokens per prefill micro-batch: the engine's SessionOptions::max_batch.
inline constexpr int64_t kMicroBatch = 512;

// The largest context EstimateMemory accepts, tokens.
inline constexpr int64_t kMaxContextTokens = 10'000'000;

// The default runtime overhead: 512 MiB. A CUDA 12 context with cuBLAS loaded
// holds about 300-500 MiB of device memory per process (driver state, module
// images, cuBLAS workspace); 512 MiB rounds that up. Calibration replaces it.
inline constexpr int64_t kDefaultOverheadBytes = int64_t{512} << 20;

// Memory needed by one model at one context, bytes. Plain value type.
struct MemoryEstimate {
  int64_t weights_bytes = 0;      // whole model in the format, norms in F32
  int64_t kv_cache_bytes = 0;     // F16 K and V for the context, grouped-query aware
  int64_t activations_bytes = 0;  // scratch of one micro-batch (header formula)
  int64_t overhead_bytes = 0;     // runtime, from the MemoryCalibration
  int64_t total_bytes = 0;        // the sum of the four
};

// The runtime overhead added to every estimate. The collector replaces the
// default with the median, over stored results, of (measured peak - modelled
// weights, KV cache and activations), i.e. of peak - (total - overhead) of an
// estimate made with overhead 0.
struct MemoryCalibration {
  int64_t overhead_bytes = kDefaultOverheadBytes;  // bytes, >= 0
  std::string basis = "default";  // how it was set: "default", "median of 14 results"
};

// Bytes of the whole model `shape` in `format` (MemoryEstimate::weights_bytes):
// WeightBytesPerToken plus the other vocab_size - 1 rows of the embedding
// table, rounded up to a byte. InvalidArgument for a bad shape or an unknown
// format.
absl::StatusOr<int64_t> ModelWeightBytes(const v1::ModelShape& shape, std::string_view format);

// The memory `shape` needs in `format` with a KV cache of `context_tokens`,
// at batch 1. InvalidArgument for a bad shape (a non-positive vocab_size,
// d_model, n_layers, n_heads, n_kv_heads or d_ff; d_model not divisible by
// n_heads; n_heads not a multiple of n_kv_heads; a dimension beyond the
// engine's limits), an unknown format, context_tokens <= 0 or >
// kMaxContextTokens, or a negative overhead. The shape's max_context,
// rope_theta and norm_eps are not used: a context beyond max_context is
// estimated all the same (whether the model can use it is the caller's call).
absl::StatusOr<MemoryEstimate> EstimateMemory(const v1::ModelShape& shape, std::string_view format,
                                              int64_t context_tokens,
                                              const MemoryCalibration& calibration = {});

// Whether the estimate fits in `device_memory_bytes`: total_bytes <= it.
bool Fits(const MemoryEstimate& estimate, int64_t device_memory_bytes);

}  // namespace aiscore

#endif  // AISCORE_SCORING_MEMORY_MODEL_H_
