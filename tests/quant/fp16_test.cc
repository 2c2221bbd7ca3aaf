#include "agent/quant/fp16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace aiscore {
namespace {

// FP64 definition of round-to-nearest-even into binary16.
uint16_t ReferenceFp32ToFp16(float f) {
  if (std::isnan(f)) return 0x7e00;
  const double x = f;
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  double a = std::fabs(x);
  if (a >= 65520.0) return sign | 0x7c00;  // Half of the last ulp past 65504 rounds to inf.
  if (a < std::ldexp(1.0, -14)) {          // Subnormal range: multiples of 2^-24.
    const double q = std::nearbyint(a * std::ldexp(1.0, 24));  // Ties to even (default mode).
    return sign | static_cast<uint16_t>(q);
  }
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  const double ulp = std::ldexp(1.0, e - 11);
  double q = std::nearbyint(a / ulp) * ulp;
  std::frexp(q, &e);
  const int biased = e - 1 + 15;
  const uint16_t mant = static_cast<uint16_t>(std::ldexp(q, -(e - 1)) * 1024.0 - 1024.0);
  if (biased >= 31) return sign | 0x7c00;
  return sign | static_cast<uint16_t>(biased << 10) | mant;
}

TEST(Fp16Test, EveryHalfRoundTripsExactly) {
  for (uint32_t h = 0; h < 65536; ++h) {
    const float f = Fp16ToFp32(static_cast<uint16_t>(h));
    if (std::isnan(f)) {
      EXPECT_TRUE(std::isnan(Fp16ToFp32(Fp32ToFp16(f)))) << h;
      continue;
    }
    ASSERT_EQ(Fp32ToFp16(f), h) << "half 0x" << std::hex << h;
  }
}

TEST(Fp16Test, KnownValues) {
  EXPECT_EQ(Fp32ToFp16(1.0f), 0x3c00);
  EXPECT_EQ(Fp32ToFp16(-2.0f), 0xc000);
  EXPECT_EQ(Fp32ToFp16(65504.0f), 0x7bff);
  EXPECT_EQ(Fp32ToFp16(1e6f), 0x7c00);
  EXPECT_EQ(Fp32ToFp16(std::ldexp(1.0f, -24)), 0x0001);
  EXPECT_EQ(Fp32ToFp16(std::ldexp(1.0f, -25)), 0x0000);  // Tie rounds to even (zero).
  EXPECT_FLOAT_EQ(Fp16ToFp32(0x3555), 0.333251953125f);
}

TEST(Fp16Test, MatchesFp64RoundingOnRandomFloats) {
  std::mt19937 rng(std::random_device{}());
  std::uniform_int_distribution<uint32_t> bits;
  for (int i = 0; i < 2000000; ++i) {
    // Concentrate on the half range: exponents around 2^-26 .. 2^17.
    uint32_t b = bits(rng);
    b = (b & 0x807fffffu) | ((96 + (b >> 23) % 48) << 23);
    const float f = std::bit_cast<float>(b);
    ASSERT_EQ(Fp32ToFp16(f), ReferenceFp32ToFp16(f)) << f;
  }
}

}  // namespace
}  // namespace aiscore
