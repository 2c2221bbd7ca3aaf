#include <cuda_fp16.h>

#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/rope_kv.cuh"

namespace aiscore::cuda {
namespace {

__global__ void RopeTableKernel(int64_t positions, int64_t head_dim, float theta, float2* table) {
  const int64_t half = head_dim / 2;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= positions * half) return;
  const int64_t p = j / half, i = j % half;
  const double freq = pow(static_cast<double>(theta), -2.0 * static_cast<double>(i) / head_dim);
  const double angle = static_cast<double>(p) * freq;
  table[j] = make_float2(static_cast<float>(cos(angle)), static_cast<float>(sin(angle)));
}

// Grid: (pairs of q and k heads, tokens). Each thread rotates one adjacent
// pair of q or k; the threads of k pairs also store k, and the first
// kv_dim / 2 threads store two values of v.
__global__ void RopeKvKernel(float* q, float* k, const float* v, int64_t pos, int64_t n_heads,
                             int64_t n_kv_heads, int64_t head_dim, const float2* table,
                             uint16_t* k_cache, uint16_t* v_cache) {
  const int64_t half = head_dim / 2;
  const int64_t t = blockIdx.y;
  const int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t q_pairs = n_heads * half, kv_pairs = n_kv_heads * half;
  const int64_t kv_dim = n_kv_heads * head_dim;
  if (j < kv_pairs) {  // v is not rotated: copy pair j
    const float* vt = v + t * kv_dim;
    __half* vc = reinterpret_cast<__half*>(v_cache + (pos + t) * kv_dim);
    vc[2 * j] = __float2half_rn(vt[2 * j]);
    vc[2 * j + 1] = __float2half_rn(vt[2 * j + 1]);
  }
  if (j >= q_pairs + kv_pairs) return;
  const bool is_q = j < q_pairs;
  const int64_t pair = is_q ? j : j - q_pairs;
  const int64_t i = pair % half;  // pair index within the head
  float* x = (is_q ? q + t * n_heads * head_dim : k + t * kv_dim) + 2 * pair;
  const float2 cs = table[(pos + t) * half + i];
  const float x0 = x[0], x1 = x[1];
  const float r0 = x0 * cs.x - x1 * cs.y, r1 = x0 * cs.y + x1 * cs.x;
  x[0] = r0;
  x[1] = r1;
  if (!is_q) {
    __half* kc = reinterpret_cast<__half*>(k_cache + (pos + t) * kv_dim);
    kc[2 * pair] = __float2half_rn(r0);
    kc[2 * pair + 1] = __float2half_rn(r1);
  }
}

}  // namespace

cudaError_t LaunchRopeTable(int64_t positions, int64_t head_dim, float theta, float2* table,
                            cudaStream_t stream) {
  const int64_t count = positions * (head_dim / 2);
  if (count <= 0) return cudaSuccess;
  RopeTableKernel<<<GridFor(count, 256), 256, 0, stream>>>(positions, head_dim, theta, table);
  return cudaGetLastError();
}

cudaError_t LaunchRopeAndStoreKv(float* q, float* k, const float* v, int64_t n, int64_t pos,
                                 int64_t n_heads, int64_t n_kv_heads, int64_t head_dim,
                                 const float2* table, uint16_t* k_cache, uint16_t* v_cache,
                                 cudaStream_t stream) {
  if (n <= 0) return cudaSuccess;
  if (n > 65535) return cudaErrorInvalidValue;
  const int64_t pairs = (n_heads + n_kv_heads) * (head_dim / 2);
  const dim3 grid(GridFor(pairs, 256), static_cast<unsigned>(n));
  RopeKvKernel<<<grid, 256, 0, stream>>>(q, k, v, pos, n_heads, n_kv_heads, head_dim, table,
                                         k_cache, v_cache);
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
