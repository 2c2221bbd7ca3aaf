#include <cuda_pipeline.h>

#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/mat_vec.cuh"
#include "agent/cuda/quant_device.cuh"

namespace aiscore::cuda {
namespace {

// ---- Rows staged in shared memory: a block of kRowThreads per row ----
//
// Blocks of 2, 4 or 8 rows (a warp or two per row) were no faster a token and
// slower a kernel under ncu (docs/performance.md, "CUDA decode on an H100").

constexpr int kRowThreads = 128;
constexpr int kRowWarps = kRowThreads / kWarpSize;
// A row's bytes in shared memory, plus 16 that a kernel may read past its
// last block (Q8_0's realigning reads). Larger rows take the plain kernel.
constexpr size_t kMaxStagedRowBytes = 48 * 1024 - 16;

bool CanStage(const WeightTensor& w) {
  const size_t row_bytes = w.row_bytes();
  return w.rows > 0 && w.rows <= INT32_MAX && row_bytes % 16 == 0 &&
         row_bytes <= kMaxStagedRowBytes && Aligned16(w.data);
}

// Copies row blockIdx.x of w into `row` (16-byte aligned shared memory) and
// waits until the whole block's copies have landed.
__device__ __forceinline__ void StageRow(const uint8_t* w, int row_bytes, uint8_t* row) {
  const uint8_t* src = w + static_cast<int64_t>(blockIdx.x) * row_bytes;
  for (int i = 16 * threadIdx.x; i < row_bytes; i += 16 * kRowThreads) {
    __pipeline_memcpy_async(row + i, src + i, 16);
  }
  __pipeline_commit();
  __pipeline_wait_prior(0);
  __syncthreads();
}

// y[t][blockIdx.x] = x_t . row blockIdx.x of w, for a Unit (the weights one
// thread takes at a time, Unit::kWeights of them) and its Inputs.
template <class Unit, class Inputs, int kMaxN>
__global__ void __launch_bounds__(kRowThreads)
    MatVecStagedKernel(const uint8_t* w, int row_bytes, int rows, int cols, Inputs in, int n,
                       float* y) {
  extern __shared__ __align__(16) uint8_t row[];
  __shared__ float partial[kMaxN][kRowWarps];
  StageRow(w, row_bytes, row);
  float acc[kMaxN];
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) acc[t] = 0.0f;
  for (int u = threadIdx.x; u < cols / Unit::kWeights; u += kRowThreads) {
    Unit::template Dot<kMaxN>(row, u, in, cols, n, acc);
  }
  const int lane = threadIdx.x % kWarpSize, warp = threadIdx.x / kWarpSize;
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) {
    if (t < n) {
      const float s = WarpSum(acc[t]);
      if (lane == 0) partial[t][warp] = s;
    }
  }
  __syncthreads();
  if (threadIdx.x < n) {
    float s = 0.0f;
#pragma unroll
    for (int k = 0; k < kRowWarps; ++k) s += partial[threadIdx.x][k];
    y[static_cast<int64_t>(threadIdx.x) * rows + blockIdx.x] = s;
  }
}

// ---- Integer kernels: Q8_0, Q4_K and Q2_K with 8-bit activations ----

// The quantized activations' block, as an int for device index arithmetic;
// QuantizeActivationsKernel quantizes one a warp.
constexpr int kActivationBlock = static_cast<int>(kQuantizedActivationBlock);
static_assert(kActivationBlock == kWarpSize);

// Activations quantized to 8 bits: token 0's values and blocks (tokens are
// `cols` values and cols / kActivationBlock blocks apart).
struct IntegerInputs {
  const int8_t* x;
  const float4* xb;
  // Block k of token t.
  __device__ __forceinline__ float4 Block(int t, int cols, int k) const {
    return __ldg(&xb[t * (cols / kActivationBlock) + k]);
  }
};

// Sixteen 8-bit activations as four words.
__device__ __forceinline__ int4 Load16Values(const int8_t* p) {
  return __ldg(reinterpret_cast<const int4*>(p));
}

__device__ __forceinline__ int Dot16(const uint32_t w[4], int4 x) {
  int s = __dp4a(static_cast<int>(w[0]), x.x, 0);
  s = __dp4a(static_cast<int>(w[1]), x.y, s);
  s = __dp4a(static_cast<int>(w[2]), x.z, s);
  return __dp4a(static_cast<int>(w[3]), x.w, s);
}

// A unit is the weights one thread takes at a time; Dot adds their products
// with n tokens' activations to acc.
template <Format F>
struct IntegerUnit;

// Q8_0: one 34-byte block (32 weights), whose quants start 2-byte aligned:
// read as aligned words and shifted into place.
template <>
struct IntegerUnit<Format::kQ8_0> {
  static constexpr int kWeights = 32;
  template <int kMaxN>
  __device__ __forceinline__ static void Dot(const uint8_t* row, int u, IntegerInputs in, int cols,
                                             int n, float acc[kMaxN]) {
    const uint8_t* b = row + u * static_cast<int>(sizeof(BlockQ8_0));
    const float d = HalfBits(Load16(b));
    const uintptr_t qs = reinterpret_cast<uintptr_t>(b + 2);
    const uint32_t* a = reinterpret_cast<const uint32_t*>(qs & ~uintptr_t{3});
    const int shift = 8 * static_cast<int>(qs & 3);
    uint32_t lo[4], hi[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      lo[k] = __funnelshift_r(a[k], a[k + 1], shift);
      hi[k] = __funnelshift_r(a[k + 4], a[k + 5], shift);
    }
#pragma unroll
    for (int t = 0; t < kMaxN; ++t) {
      if (t < n) {
        const int8_t* xt = in.x + t * cols + kWeights * u;
        const int dot = Dot16(lo, Load16Values(xt)) + Dot16(hi, Load16Values(xt + 16));
        acc[t] += d * in.Block(t, cols, u).x * static_cast<float>(dot);
      }
    }
  }
};

// Q4_K: a quarter of a 144-byte super-block's quants, 16 bytes: nibbles of
// weights 16 h .. 16 h + 15 of sub-blocks 2 j (low) and 2 j + 1 (high),
// for unit 8 b + 2 j + h.
template <>
struct IntegerUnit<Format::kQ4_K> {
  static constexpr int kWeights = 32;
  template <int kMaxN>
  __device__ __forceinline__ static void Dot(const uint8_t* row, int u, IntegerInputs in, int cols,
                                             int n, float acc[kMaxN]) {
    const int block = u / 8, j = (u / 2) % 4, h = u % 2;
    const uint8_t* b = row + block * static_cast<int>(sizeof(BlockQ4_K));
    const float d = HalfBits(Load16(b)), dmin = HalfBits(Load16(b + 2));
    uint8_t sc_lo, m_lo, sc_hi, m_hi;
    DeviceFormat<Format::kQ4_K>::UnpackScaleMin(2 * j, b + 4, &sc_lo, &m_lo);
    DeviceFormat<Format::kQ4_K>::UnpackScaleMin(2 * j + 1, b + 4, &sc_hi, &m_hi);
    const uint4 q = *reinterpret_cast<const uint4*>(b + 16 + 16 * (u % 8));
    const uint32_t words[4] = {q.x, q.y, q.z, q.w};
    uint32_t lo[4], hi[4];
#pragma unroll
    for (int k = 0; k < 4; ++k) {
      lo[k] = words[k] & 0x0f0f0f0fu;
      hi[k] = (words[k] >> 4) & 0x0f0f0f0fu;
    }
    const float dl = d * sc_lo, ml = dmin * m_lo, dh = d * sc_hi, mh = dmin * m_hi;
    const int first = 256 * block + 64 * j + 16 * h;  // the low nibbles' first weight
#pragma unroll
    for (int t = 0; t < kMaxN; ++t) {
      if (t < n) {
        const int8_t* xt = in.x + t * cols + first;
        const float4 bl = in.Block(t, cols, 8 * block + 2 * j);
        const float4 bh = in.Block(t, cols, 8 * block + 2 * j + 1);
        const float dot_lo = static_cast<float>(Dot16(lo, Load16Values(xt)));
        const float dot_hi = static_cast<float>(Dot16(hi, Load16Values(xt + 32)));
        acc[t] += dl * bl.x * dot_lo - ml * (h ? bl.z : bl.y) + dh * bh.x * dot_hi -
                  mh * (h ? bh.z : bh.y);
      }
    }
  }
};

// Q2_K: a quarter of an 84-byte super-block's quants, 16 bytes (4-byte
// aligned): bit pair s of byte i is weight 128 c + 32 s + 16 h + i, for
// unit 4 b + 2 c + h; its scale and minimum are byte 8 c + 2 s + h.
template <>
struct IntegerUnit<Format::kQ2_K> {
  static constexpr int kWeights = 64;
  template <int kMaxN>
  __device__ __forceinline__ static void Dot(const uint8_t* row, int u, IntegerInputs in, int cols,
                                             int n, float acc[kMaxN]) {
    const int block = u / 4, c = (u / 2) % 2, h = u % 2;
    const uint8_t* b = row + block * static_cast<int>(sizeof(BlockQ2_K));
    const float d = HalfBits(Load16(b + 80)), dmin = HalfBits(Load16(b + 82));
    const uint32_t* qw = reinterpret_cast<const uint32_t*>(b + 16 + 32 * c + 16 * h);
    const uint32_t words[4] = {qw[0], qw[1], qw[2], qw[3]};
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      uint32_t q[4];
#pragma unroll
      for (int k = 0; k < 4; ++k) q[k] = (words[k] >> (2 * s)) & 0x03030303u;
      const uint8_t sm = b[8 * c + 2 * s + h];
      const float dl = d * static_cast<float>(sm & 0xf), ml = dmin * static_cast<float>(sm >> 4);
      const int first = 256 * block + 128 * c + 32 * s + 16 * h;
#pragma unroll
      for (int t = 0; t < kMaxN; ++t) {
        if (t < n) {
          const float4 xbk = in.Block(t, cols, first / kActivationBlock);
          const float dot = static_cast<float>(Dot16(q, Load16Values(in.x + t * cols + first)));
          acc[t] += dl * xbk.x * dot - ml * (h ? xbk.z : xbk.y);
        }
      }
    }
  }
};

// A warp per 32 activations: scale to the largest magnitude, round, and sum
// each half of the rounded values.
__global__ void QuantizeActivationsKernel(const float* x, int64_t blocks, int8_t* q, float4* meta) {
  const int64_t b =
      static_cast<int64_t>(blockIdx.x) * (blockDim.x / kWarpSize) + threadIdx.x / kWarpSize;
  if (b >= blocks) return;  // the whole warp
  const int lane = threadIdx.x % kWarpSize;
  const float v = x[b * kWarpSize + lane];
  const float amax = WarpMax(fabsf(v));
  const float d = amax / 127.0f;
  const int qi = amax > 0.0f ? __float2int_rn(v / d) : 0;
  q[b * kWarpSize + lane] = static_cast<int8_t>(qi);
  float s = static_cast<float>(qi);
#pragma unroll
  for (int offset = 8; offset > 0; offset /= 2) s += __shfl_xor_sync(0xffffffffu, s, offset);
  const float first = __shfl_sync(0xffffffffu, s, 0), last = __shfl_sync(0xffffffffu, s, 16);
  if (lane == 0) meta[b] = make_float4(d, d * first, d * last, 0.0f);
}

// ---- f32 products of eight dequantized weights ----

// Adds the dot products of eight weights with eight activations of each of
// the first n (<= kMaxN) tokens, starting at column `col`.
template <int kMaxN>
__device__ __forceinline__ void Accumulate(const float w[8], const float* x, int64_t cols,
                                           int64_t col, int n, bool aligned, float acc[kMaxN]) {
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) {
    if (t < n) {
      const float* xt = x + t * cols + col;
      float v[8];
      if (aligned) {
        const float4 a = __ldg(reinterpret_cast<const float4*>(xt));
        const float4 b = __ldg(reinterpret_cast<const float4*>(xt) + 1);
        v[0] = a.x, v[1] = a.y, v[2] = a.z, v[3] = a.w;
        v[4] = b.x, v[5] = b.y, v[6] = b.z, v[7] = b.w;
      } else {
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = __ldg(xt + k);
      }
#pragma unroll
      for (int k = 0; k < 8; ++k) acc[t] = fmaf(w[k], v[k], acc[t]);
    }
  }
}

// ---- F16 rows staged in shared memory, f32 activations ----

struct FloatInputs {
  const float* x;  // token 0's values; tokens are `cols` apart
};

// Eight F16 weights (16 bytes).
struct F16Unit {
  static constexpr int kWeights = 8;
  template <int kMaxN>
  __device__ __forceinline__ static void Dot(const uint8_t* row, int u, FloatInputs in, int cols,
                                             int n, float acc[kMaxN]) {
    float wv[8];
    DeviceFormat<Format::kF16>::Group8(row, u, wv);  // rows are staged 16-byte aligned
    Accumulate<kMaxN>(wv, in.x, cols, 8 * u, n, /*aligned=*/true, acc);
  }
};

// Launches MatVecStagedKernel for w (which CanStage takes).
template <class Unit, class Inputs>
void LaunchStaged(const WeightTensor& w, Inputs in, int64_t n, float* y, cudaStream_t stream) {
  const int row_bytes = static_cast<int>(w.row_bytes());
  const size_t shared = static_cast<size_t>(row_bytes) + 16;
  const auto* data = static_cast<const uint8_t*>(w.data);
  const int rows = static_cast<int>(w.rows), cols = static_cast<int>(w.cols);
  if (n == 1) {
    MatVecStagedKernel<Unit, Inputs, 1>
        <<<rows, kRowThreads, shared, stream>>>(data, row_bytes, rows, cols, in, 1, y);
  } else {
    MatVecStagedKernel<Unit, Inputs, kMaxMatVecTokens><<<rows, kRowThreads, shared, stream>>>(
        data, row_bytes, rows, cols, in, static_cast<int>(n), y);
  }
}

// ---- The plain kernel: any format, a warp per row ----

constexpr int kRowsPerBlock = 4;  // one warp per row

// A warp per row: lanes take the row's groups of eight weights in turn, then
// the warp sums each token's partial dot products.
template <Format F, int kMaxN>
__global__ void __launch_bounds__(kRowsPerBlock* kWarpSize)
    MatVecKernel(const uint8_t* w, size_t row_bytes, int64_t rows, int64_t cols, const float* x,
                 int n, float* y) {
  const int lane = threadIdx.x % kWarpSize;
  const int64_t r = static_cast<int64_t>(blockIdx.x) * kRowsPerBlock + threadIdx.x / kWarpSize;
  if (r >= rows) return;
  const uint8_t* row = w + r * row_bytes;
  // Rows of activations start 16-byte aligned when cols is a multiple of 4.
  const bool aligned = cols % 4 == 0 && Aligned16(x);
  float acc[kMaxN];
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) acc[t] = 0.0f;
  const int64_t groups = cols / 8;
  for (int64_t u = lane; u < groups; u += kWarpSize) {
    float wv[8];
    DeviceFormat<F>::Group8(row, u, wv);
    Accumulate<kMaxN>(wv, x, cols, 8 * u, n, aligned, acc);
  }
  for (int64_t c = 8 * groups + lane; c < cols; c += kWarpSize) {  // plain formats' tail
    const float v = ValueAt<F>(row, c);
#pragma unroll
    for (int t = 0; t < kMaxN; ++t) {
      if (t < n) acc[t] = fmaf(v, x[t * cols + c], acc[t]);
    }
  }
#pragma unroll
  for (int t = 0; t < kMaxN; ++t) {
    if (t < n) {
      const float sum = WarpSum(acc[t]);
      if (lane == 0) y[t * rows + r] = sum;
    }
  }
}

constexpr bool IsIntegerFormat(Format f) {
  return f == Format::kQ8_0 || f == Format::kQ4_K || f == Format::kQ2_K;
}

}  // namespace

bool MatVecTakesQuantizedActivations(const WeightTensor& w) {
  return IsIntegerFormat(w.format) && w.cols % 256 == 0 && w.cols <= INT32_MAX / kMaxMatVecTokens &&
         CanStage(w);
}

cudaError_t LaunchQuantizeActivations(const float* x, int64_t n, int64_t cols,
                                      const QuantizedActivations& q, cudaStream_t stream) {
  if (n < 1 || cols % kQuantizedActivationBlock != 0 || n * cols > q.capacity) {
    return cudaErrorInvalidValue;
  }
  constexpr int kThreads = 256;
  const int64_t blocks = n * cols / kQuantizedActivationBlock;
  QuantizeActivationsKernel<<<GridFor(blocks, kThreads / kWarpSize), kThreads, 0, stream>>>(
      x, blocks, q.values, q.blocks);
  return cudaGetLastError();
}

cudaError_t LaunchMatVecQuantized(const WeightTensor& w, const QuantizedActivations& q, int64_t n,
                                  float* y, cudaStream_t stream) {
  if (n < 1 || n > kMaxMatVecTokens || n * w.cols > q.capacity) return cudaErrorInvalidValue;
  if (!MatVecTakesQuantizedActivations(w)) return cudaErrorNotSupported;
  DispatchFormat(w.format, [&]<Format F>() {
    if constexpr (IsIntegerFormat(F)) {
      LaunchStaged<IntegerUnit<F>>(w, IntegerInputs{q.values, q.blocks}, n, y, stream);
    }
  });
  return cudaGetLastError();
}

cudaError_t LaunchMatVec(const WeightTensor& w, const float* x, int64_t n, float* y,
                         cudaStream_t stream) {
  if (n < 1 || n > kMaxMatVecTokens) return cudaErrorInvalidValue;
  if (w.rows <= 0) return cudaSuccess;
  const auto* data = static_cast<const uint8_t*>(w.data);
  if (w.format == Format::kF16 && w.cols % 8 == 0 && w.cols <= INT32_MAX / kMaxMatVecTokens &&
      CanStage(w) && Aligned16(x)) {
    LaunchStaged<F16Unit>(w, FloatInputs{x}, n, y, stream);
    return cudaGetLastError();
  }
  const unsigned blocks = GridFor(w.rows, kRowsPerBlock);
  const bool known = DispatchFormat(w.format, [&]<Format F>() {
    if (n == 1) {
      MatVecKernel<F, 1><<<blocks, kRowsPerBlock * kWarpSize, 0, stream>>>(data, w.row_bytes(),
                                                                           w.rows, w.cols, x, 1, y);
    } else {
      MatVecKernel<F, kMaxMatVecTokens><<<blocks, kRowsPerBlock * kWarpSize, 0, stream>>>(
          data, w.row_bytes(), w.rows, w.cols, x, static_cast<int>(n), y);
    }
  });
  return known ? cudaGetLastError() : cudaErrorNotSupported;
}

}  // namespace aiscore::cuda
