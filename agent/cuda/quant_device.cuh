// Dequantization on the device: each weight format's values, eight at a
// time, computed as the portable reference (agent/quant/reference.cc)
// defines them.
//
// A row of `cols` weights is read in groups of eight consecutive weights;
// group u covers weights [8u, 8u + 8). DeviceFormat<F>::Group8 dequantizes
// one group, reading only the bytes it needs; the kernels that stream rows
// (matrix x vector, embedding, dequantization to F16) give one group to
// each thread in turn. Plain formats (F32, F16) may end with a partial
// group; ValueAt() reads any single weight. Block layouts: agent/quant/blocks.h.
#ifndef AISCORE_AGENT_CUDA_QUANT_DEVICE_CUH_
#define AISCORE_AGENT_CUDA_QUANT_DEVICE_CUH_

#include <cuda_fp16.h>

#include <cstdint>

#include "agent/cuda/cuda_common.cuh"
#include "agent/quant/blocks.h"
#include "agent/quant/format.h"

namespace aiscore::cuda {

__device__ __forceinline__ float HalfBits(uint16_t bits) {
  return __half2float(__ushort_as_half(bits));
}

__device__ __forceinline__ uint16_t Load16(const uint8_t* p) {
  return *reinterpret_cast<const uint16_t*>(p);
}

template <Format F>
struct DeviceFormat;

template <>
struct DeviceFormat<Format::kF32> {
  static constexpr int kBlockValues = 1;
  static constexpr int kBlockBytes = 4;
  __device__ static void Group8(const uint8_t* row, int64_t u, float w[8]) {
    const float* x = reinterpret_cast<const float*>(row) + 8 * u;
#pragma unroll
    for (int i = 0; i < 8; ++i) w[i] = x[i];
  }
};

template <>
struct DeviceFormat<Format::kF16> {
  static constexpr int kBlockValues = 1;
  static constexpr int kBlockBytes = 2;
  __device__ static void Group8(const uint8_t* row, int64_t u, float w[8]) {
    const uint8_t* p = row + 16 * u;
    if (Aligned16(p)) {  // one 16-byte load
      const uint4 v = *reinterpret_cast<const uint4*>(p);
      const uint32_t words[4] = {v.x, v.y, v.z, v.w};
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&words[i]));
        w[2 * i] = f.x;
        w[2 * i + 1] = f.y;
      }
    } else {
#pragma unroll
      for (int i = 0; i < 8; ++i) w[i] = HalfBits(Load16(p + 2 * i));
    }
  }
};

template <>
struct DeviceFormat<Format::kQ8_0> {
  static constexpr int kBlockValues = kQ8_0BlockSize;
  static constexpr int kBlockBytes = sizeof(BlockQ8_0);
  // Blocks are 34 bytes, so only 2-byte alignment holds.
  __device__ static void Group8(const uint8_t* row, int64_t u, float w[8]) {
    const uint8_t* b = row + (u / 4) * kBlockBytes;
    const float d = HalfBits(Load16(b));
    const uint8_t* q = b + 2 + 8 * (u % 4);
#pragma unroll
    for (int i = 0; i < 8; i += 2) {
      const uint16_t pair = Load16(q + i);
      w[i] = d * static_cast<float>(static_cast<int8_t>(pair & 0xff));
      w[i + 1] = d * static_cast<float>(static_cast<int8_t>(pair >> 8));
    }
  }
};

template <>
struct DeviceFormat<Format::kQ4_K> {
  static constexpr int kBlockValues = kSuperBlockSize;
  static constexpr int kBlockBytes = sizeof(BlockQ4_K);
  // Group p of a block: sub-block j = p / 4 (32 weights), whose quants are
  // the low (even j) or high (odd j) nibbles of qs[32 * (j / 2) ..].
  __device__ static void Group8(const uint8_t* row, int64_t u, float w[8]) {
    const uint8_t* b = row + (u / 32) * kBlockBytes;
    const int p = static_cast<int>(u % 32), j = p / 4;
    const float d = HalfBits(Load16(b)), dmin = HalfBits(Load16(b + 2));
    uint8_t sc, m;
    UnpackScaleMin(j, b + 4, &sc, &m);
    const float dl = d * sc, ml = dmin * m;
    const uint2 v = *reinterpret_cast<const uint2*>(b + 16 + 32 * (j / 2) + 8 * (p % 4));
    const int shift = 4 * (j % 2);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w[i] = dl * static_cast<float>((v.x >> (8 * i + shift)) & 0xf) - ml;
      w[i + 4] = dl * static_cast<float>((v.y >> (8 * i + shift)) & 0xf) - ml;
    }
  }
  __device__ static void UnpackScaleMin(int j, const uint8_t* s, uint8_t* sc, uint8_t* m) {
    if (j < 4) {
      *sc = s[j] & 63;
      *m = s[j + 4] & 63;
    } else {
      *sc = (s[j + 4] & 0xf) | ((s[j - 4] >> 6) << 4);
      *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
  }
};

template <>
struct DeviceFormat<Format::kQ2_K> {
  static constexpr int kBlockValues = kSuperBlockSize;
  static constexpr int kBlockBytes = sizeof(BlockQ2_K);
  // Group p of a block: weights 128 c + 32 s + l0 .. +7 (c = p / 16,
  // s = p / 4 % 4, l0 = 8 (p % 4)) are bit pair s of qs[32 c + l0 ..];
  // scale/min byte (8 p) / 16. Blocks are 84 bytes: 4-byte alignment.
  __device__ static void Group8(const uint8_t* row, int64_t u, float w[8]) {
    const uint8_t* b = row + (u / 32) * kBlockBytes;
    const int p = static_cast<int>(u % 32);
    const int c = p / 16, s = (p / 4) % 4, l0 = 8 * (p % 4);
    const float d = HalfBits(Load16(b + 80)), dmin = HalfBits(Load16(b + 82));
    const uint8_t sm = b[p / 2];
    const float dl = d * (sm & 0xf), ml = dmin * (sm >> 4);
    const uint32_t* q = reinterpret_cast<const uint32_t*>(b + 16 + 32 * c + l0);
    const uint32_t lo = q[0], hi = q[1];
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      w[i] = dl * static_cast<float>((lo >> (8 * i + 2 * s)) & 3) - ml;
      w[i + 4] = dl * static_cast<float>((hi >> (8 * i + 2 * s)) & 3) - ml;
    }
  }
};

template <>
struct DeviceFormat<Format::kQ6_K> {
  static constexpr int kBlockValues = kSuperBlockSize;
  static constexpr int kBlockBytes = sizeof(BlockQ6_K);
  // Weights 128 c + 32 s + l: low nibble s / 2 of ql[64 c + 32 (s % 2) + l],
  // high bits pair s of qh[32 c + l]; scale (128 c + 32 s + l) / 16.
  // Blocks are 210 bytes: bytes are read one at a time.
  __device__ static void Group8(const uint8_t* row, int64_t u, float w[8]) {
    const uint8_t* b = row + (u / 32) * kBlockBytes;
    const int p = static_cast<int>(u % 32);
    const int c = p / 16, s = (p / 4) % 4, l0 = 8 * (p % 4);
    const float d = HalfBits(Load16(b + 208));
    const float dl = d * static_cast<float>(static_cast<int8_t>(b[192 + p / 2]));
    const uint8_t* ql = b + 64 * c + 32 * (s % 2) + l0;
    const uint8_t* qh = b + 128 + 32 * c + l0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int q = (((ql[i] >> (4 * (s / 2))) & 0xf) | (((qh[i] >> (2 * s)) & 3) << 4)) - 32;
      w[i] = dl * static_cast<float>(q);
    }
  }
};

template <>
struct DeviceFormat<Format::kQ3_K> {
  static constexpr int kBlockValues = kSuperBlockSize;
  static constexpr int kBlockBytes = sizeof(BlockQ3_K);
  // Weights 128 c + 32 s + l: low bits pair s of qs[32 c + l], high bit
  // 4 c + s of hmask[l]; 6-bit scale code (128 c + 32 s + l) / 16.
  __device__ static void Group8(const uint8_t* row, int64_t u, float w[8]) {
    const uint8_t* b = row + (u / 32) * kBlockBytes;
    const int p = static_cast<int>(u % 32);
    const int c = p / 16, s = (p / 4) % 4, l0 = 8 * (p % 4);
    const float d = HalfBits(Load16(b + 108));
    const int j = p / 2;
    const uint8_t* scales = b + 96;
    const int code = ((scales[j % 8] >> (4 * (j / 8))) & 0xf) |
                     (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
    const float dl = d * static_cast<float>(code - 32);
    const uint8_t* qs = b + 32 + 32 * c + l0;
    const uint8_t* hm = b + l0;
#pragma unroll
    for (int i = 0; i < 8; ++i) {
      const int q = (((qs[i] >> (2 * s)) & 3) | (((hm[i] >> (4 * c + s)) & 1) << 2)) - 4;
      w[i] = dl * static_cast<float>(q);
    }
  }
};

// Weight i of a row: what Group8 gives for it (plain formats read it alone,
// for the last, partial group of a row).
template <Format F>
__device__ __forceinline__ float ValueAt(const uint8_t* row, int64_t i) {
  if constexpr (F == Format::kF32) {
    return reinterpret_cast<const float*>(row)[i];
  } else if constexpr (F == Format::kF16) {
    return HalfBits(Load16(row + 2 * i));
  } else {
    float w[8];
    DeviceFormat<F>::Group8(row, i / 8, w);
    return w[i % 8];
  }
}

// Calls fn.template operator()<F>() for the runtime format `f`; false when
// the format has no device implementation.
template <typename Fn>
bool DispatchFormat(Format f, Fn&& fn) {
  switch (f) {
    case Format::kF32:
      fn.template operator()<Format::kF32>();
      return true;
    case Format::kF16:
      fn.template operator()<Format::kF16>();
      return true;
    case Format::kQ8_0:
      fn.template operator()<Format::kQ8_0>();
      return true;
    case Format::kQ4_K:
      fn.template operator()<Format::kQ4_K>();
      return true;
    case Format::kQ2_K:
      fn.template operator()<Format::kQ2_K>();
      return true;
    case Format::kQ6_K:
      fn.template operator()<Format::kQ6_K>();
      return true;
    case Format::kQ3_K:
      fn.template operator()<Format::kQ3_K>();
      return true;
  }
  return false;
}

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_QUANT_DEVICE_CUH_
