// IEEE 754 binary16 <-> binary32 conversion, portable and bit-exact.
//
// Fp32ToFp16 rounds to nearest, ties to even, keeps NaN a NaN and saturates
// nothing: values beyond the half range become infinity, as hardware
// conversion (F16C vcvtps2ph, CUDA __float2half_rn) does. Every path that
// converts must produce the same bits as these two functions. They are also
// compiled for the GPU where a CUDA source defines AISCORE_HOST_DEVICE.
#ifndef AISCORE_AGENT_QUANT_FP16_H_
#define AISCORE_AGENT_QUANT_FP16_H_

#include <bit>
#include <cstdint>

#include "agent/quant/host_device.h"

namespace aiscore {

AISCORE_HOST_DEVICE inline float Fp16ToFp32(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0x1f) {  // Inf or NaN.
    bits = sign | 0x7f800000u | (mant << 13);
  } else if (exp != 0) {  // Normal.
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  } else if (mant == 0) {  // Zero.
    bits = sign;
  } else {  // Subnormal: normalize.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400u) == 0);
    bits = sign | ((112 - e) << 23) | ((mant & 0x3ffu) << 13);
  }
  return std::bit_cast<float>(bits);
}

AISCORE_HOST_DEVICE inline uint16_t Fp32ToFp16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return sign | 0x7e00u | ((abs >> 13) & 0x3ffu);  // NaN, quiet.
  if (abs >= 0x477ff000u) return sign | 0x7c00u;  // Rounds to or beyond infinity.
  if (abs < 0x38800000u) {                        // Result is subnormal or zero.
    if (abs < 0x33000000u) return sign;           // Below half the smallest subnormal.
    const uint32_t exp = abs >> 23;
    const uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    const uint32_t shift = 126 - exp;  // 14..24
    uint32_t half = mant >> shift;
    const uint32_t rem = mant & ((1u << shift) - 1);
    const uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half & 1u))) ++half;
    return sign | static_cast<uint16_t>(half);
  }
  // Normal: rebias the exponent and round the mantissa to 10 bits.
  uint32_t half = ((abs >> 13) - (112u << 10));
  const uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;
  return sign | static_cast<uint16_t>(half);
}

}  // namespace aiscore

#endif  // AISCORE_AGENT_QUANT_FP16_H_
