#include "agent/cpu/activation_layout.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "agent/cpu/cpu_features.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/quant/blocks.h"
#include "agent/quant/fp16.h"

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

// The AVX-512 Q8_0 kernel's activation row: the portable converter's blocks,
// then (from a multiple of 4 bytes) each block's scale as a float and 128 x
// the sum of its quants, as int32.
TEST(ActivationLayoutTest, Avx512Q8_0RowIsThePortableBlocksAndTheirSums) {
  const MatMulKernel* k = FindMatMulKernel(Format::kQ8_0, Isa::kAvx512);
  if (k == nullptr || !IsaSupported(Isa::kAvx512)) GTEST_SKIP() << "no AVX-512 Q8_0 kernel";
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  for (int64_t nb : {1, 2, 7, 128}) {  // odd block counts: the arrays after the blocks move
    const int64_t cols = nb * kQ8_0BlockSize;
    const size_t blocks_bytes = (nb * sizeof(BlockQ8_0) + 3) / 4 * 4;
    ASSERT_EQ(k->activation_row_bytes(cols), blocks_bytes + nb * 8) << "nb " << nb;
    std::vector<float> x(cols);
    std::vector<unsigned char> portable(ActivationRowBytesQ8_0(cols));
    std::vector<unsigned char> row(k->activation_row_bytes(cols));
    for (int trial = 0; trial < 300; ++trial) {
      for (float& v : x) v = normal(rng) * (trial % 5 + 1);
      if (trial % 3 == 0) {  // values on the half-integer grid: rounding ties
        for (float& v : x) v = std::round(v * 2.0f) * 0.5f;
        x[0] = 127.0f;
      }
      if (trial % 4 == 0) std::fill(x.begin(), x.begin() + kQ8_0BlockSize, 0.0f);  // zero block
      ConvertActivationsQ8_0(x.data(), cols, portable.data());
      k->convert_activations(x.data(), cols, row.data());
      ASSERT_EQ(std::memcmp(portable.data(), row.data(), portable.size()), 0)
          << "nb " << nb << " trial " << trial;
      const auto* blocks = reinterpret_cast<const BlockQ8_0*>(portable.data());
      for (int64_t b = 0; b < nb; ++b) {
        float scale;
        int32_t share;
        std::memcpy(&scale, &row[blocks_bytes + 4 * b], 4);
        std::memcpy(&share, &row[blocks_bytes + 4 * nb + 4 * b], 4);
        int32_t sum = 0;
        for (int8_t q : blocks[b].qs) sum += q;
        ASSERT_EQ(scale, Fp16ToFp32(blocks[b].d)) << "nb " << nb << " block " << b;
        ASSERT_EQ(share, 128 * sum) << "nb " << nb << " block " << b;
      }
    }
  }
}

// The Q2_K kernels' activation rows: the portable Q8_K blocks, each block's
// 32 bytes of sums then rewritten for the kernel's mins. AVX-VNNI splits them
// (SplitQ8_KBsums): the low bytes of the 16 sums, then their high bytes.
// AVX-512 and AVX2 pair them (PairQ8_KBsums): the sums in the order 0, 2, 1,
// 3, 4, 6, 5, 7, ... Each sum is that of its group's 16 quants.
TEST(ActivationLayoutTest, Q2_KRowsAreQ8_KWithTheirKernelsSums) {
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  int kernels = 0;
  for (Isa isa : {Isa::kAvx512, Isa::kAvxVnni, Isa::kAvx2}) {
    const MatMulKernel* k = FindMatMulKernel(Format::kQ2_K, isa);
    if (k == nullptr || !IsaSupported(isa)) continue;
    ++kernels;
    const bool split = isa == Isa::kAvxVnni;
    for (int64_t nb : {1, 3, 16}) {
      const int64_t cols = nb * kSuperBlockSize;
      ASSERT_EQ(k->activation_row_bytes(cols), ActivationRowBytesQ8_K(cols));
      std::vector<float> x(cols);
      std::vector<unsigned char> portable(ActivationRowBytesQ8_K(cols)), row(portable.size());
      for (int trial = 0; trial < 100; ++trial) {
        for (float& v : x) v = normal(rng) * (trial % 5 + 1);
        if (trial % 10 == 0) {  // Saturated groups: the sums at their extremes.
          for (int64_t i = 0; i < cols; ++i) x[i] = (i / 16) % 2 ? -1.0f : 1.0f;
        }
        ConvertActivationsQ8_K(x.data(), cols, portable.data());
        k->convert_activations(x.data(), cols, row.data());
        const auto* want = reinterpret_cast<const BlockQ8_K*>(portable.data());
        const auto* got = reinterpret_cast<const BlockQ8_K*>(row.data());
        for (int64_t b = 0; b < nb; ++b) {
          ASSERT_EQ(got[b].d, want[b].d) << IsaName(isa) << " nb " << nb << " block " << b;
          ASSERT_EQ(std::memcmp(got[b].qs, want[b].qs, sizeof(want[b].qs)), 0)
              << IsaName(isa) << " block " << b;
          unsigned char bytes[32];
          std::memcpy(bytes, got[b].bsums, sizeof(bytes));
          for (int group = 0; group < 16; ++group) {
            int sum = 0;
            for (int q = 0; q < 16; ++q) sum += want[b].qs[16 * group + q];
            int found;
            if (split) {
              found = 256 * static_cast<int8_t>(bytes[16 + group]) + bytes[group];
            } else {  // group 4k + j + 2h (j, h < 2) at dword 2k + j, half h
              const int k4 = group / 4, j = group % 2, h = group % 4 / 2;
              found = got[b].bsums[2 * (2 * k4 + j) + h];
            }
            ASSERT_EQ(found, sum) << IsaName(isa) << " nb " << nb << " block " << b << " group "
                                  << group;
          }
        }
      }
    }
  }
  if (kernels == 0) GTEST_SKIP() << "no x86 Q2_K kernel on this CPU";
}

}  // namespace
}  // namespace aiscore
