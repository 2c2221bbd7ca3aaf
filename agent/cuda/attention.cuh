// Causal grouped-query attention on the GPU over an F16 KV cache, for
// prefill (many query tokens) and decode (one or a few) at any context.
//
// Each query token t (position pos + t) attends to cache positions
// 0 .. pos + t. The positions are split into `splits` equal ranges handled by
// separate blocks (flash-decoding), so a single decode token still fills the
// GPU at long context; each block keeps a running max and sum (online
// softmax), and a second kernel merges the ranges. AttentionSplits picks the
// split count; the partial results need AttentionScratchFloats floats.
#ifndef AISCORE_AGENT_CUDA_ATTENTION_CUH_
#define AISCORE_AGENT_CUDA_ATTENTION_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace aiscore::cuda {

inline constexpr int64_t kMaxAttentionHeadDim = 256;  // a multiple of 32 up to this

struct AttentionGeometry {
  int64_t n = 0;           // query tokens
  int64_t pos = 0;         // position of the first
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads
  int64_t head_dim = 0;
};

// Splits of the position range for `g` on a GPU with `multiprocessors`,
// given room for `scratch_floats` floats of partial results (at least 1).
int64_t AttentionSplits(const AttentionGeometry& g, int multiprocessors, int64_t scratch_floats);
// Floats of partial results `splits` needs (0 for one split).
int64_t AttentionScratchFloats(const AttentionGeometry& g, int64_t splits);

// q: device [n][n_heads][head_dim]; caches: device [context][n_kv_heads *
// head_dim] F16; out: device [n][n_heads][head_dim]; scratch: device, at
// least AttentionScratchFloats(g, splits) floats. cudaErrorInvalidValue for
// a head_dim that is not a multiple of 32 up to kMaxAttentionHeadDim.
cudaError_t LaunchAttention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache,
                            const AttentionGeometry& g, int64_t splits, float* scratch, float* out,
                            cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_ATTENTION_CUH_
