#include "agent/cpu/activation_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "agent/cpu/cpu_features.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

// The SIMD converter must write the same bytes as the portable one, ties
// (x * 127 / amax exactly halfway) and zero blocks included.
TEST(ActivationLayoutTest, Avx2Q8_KIsByteIdenticalToPortable) {
#ifdef AISCORE_HAVE_X86_KERNELS
  if (!IsaSupported(Isa::kAvx2)) GTEST_SKIP() << "no AVX2";
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  const int64_t cols = 4096;
  std::vector<float> x(cols);
  std::vector<unsigned char> a(ActivationRowBytesQ8_K(cols)), b(a.size());
  for (int trial = 0; trial < 2000; ++trial) {
    for (float& v : x) v = normal(rng) * (trial % 7 + 1);
    if (trial % 3 == 0) {  // Values on the half-integer grid: rounding ties.
      for (float& v : x) v = std::round(v * 2.0f) * 0.5f;
      x[0] = 127.0f;  // amax 127: q = x exactly, ties at .5
    }
    if (trial % 11 == 0) std::fill(x.begin(), x.begin() + 256, 0.0f);  // a zero block
    ConvertActivationsQ8_K(x.data(), cols, a.data());
    ConvertActivationsQ8_KAvx2(x.data(), cols, b.data());
    ASSERT_EQ(std::memcmp(a.data(), b.data(), a.size()), 0) << "trial " << trial;
  }
#else
  GTEST_SKIP() << "not an x86 build";
#endif
}

}  // namespace
}  // namespace aiscore
