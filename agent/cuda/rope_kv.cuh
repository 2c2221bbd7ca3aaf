// Rotary embedding with the KV-cache append on the GPU: rotates q and k of n
// tokens at positions pos .. pos+n-1 (adjacent pairs, as llama.cpp does for
// GGUF `llama` models) and stores k and v as F16 rows of one layer's caches.
#ifndef AISCORE_AGENT_CUDA_ROPE_KV_CUH_
#define AISCORE_AGENT_CUDA_ROPE_KV_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace aiscore::cuda {

// table: device [positions][head_dim / 2] of (cos, sin) of
// p * theta^(-2i / head_dim), computed in FP64 and rounded to float as the
// CPU backend's table is.
cudaError_t LaunchRopeTable(int64_t positions, int64_t head_dim, float theta, float2* table,
                            cudaStream_t stream);

// q: device [n][n_heads][head_dim], k: [n][n_kv_heads][head_dim] (both
// rotated in place), v: [n][n_kv_heads * head_dim]; caches: device
// [max_context][n_kv_heads * head_dim] F16 bits. `table` covers pos + n.
cudaError_t LaunchRopeAndStoreKv(float* q, float* k, const float* v, int64_t n, int64_t pos,
                                 int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                                 const float2* table, uint16_t* k_cache, uint16_t* v_cache,
                                 cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_ROPE_KV_CUH_
