// Attention primitives of every ISA against FP64 on fresh random inputs, with
// head widths and head counts that leave partial vectors and head groups.
#include "agent/cpu/vec_kernels.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

std::vector<const VecKernels*> Tables() {
  std::vector<const VecKernels*> out = {&kScalarVecKernels};
#ifdef AISCORE_HAVE_X86_KERNELS
  if (IsaSupported(Isa::kAvx2)) out.push_back(&kAvx2VecKernels);
#endif
  return out;
}

TEST(VecKernelsTest, AttentionMatchesFp64) {
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  for (const VecKernels* vk : Tables()) {
    for (int64_t hd : {5, 64, 128, 130}) {
      for (int64_t heads : {1, 4, 6}) {
        for (int64_t len : {1, 17, 300}) {
          const int64_t stride = hd + 3;  // rows of the cache are wider than one head
          std::vector<float> q(heads * hd), probs(heads * len);
          std::vector<uint16_t> k(len * stride), v(len * stride);
          for (float& x : q) x = normal(rng);
          for (float& x : probs) x = std::fabs(normal(rng)) / len;
          for (uint16_t& x : k) x = Fp32ToFp16(normal(rng));
          for (uint16_t& x : v) x = Fp32ToFp16(normal(rng));
          std::vector<float> scores(heads * len), out(heads * hd, NAN);
          vk->attention_scores(q.data(), heads, hd, k.data(), stride, len, 0.125f, scores.data());
          vk->attention_values(probs.data(), heads, len, v.data(), stride, hd, out.data());
          for (int64_t h = 0; h < heads; ++h) {
            for (int64_t p = 0; p < len; ++p) {
              double s = 0;
              for (int64_t e = 0; e < hd; ++e)
                s += double(q[h * hd + e]) * Fp16ToFp32(k[p * stride + e]);
              ASSERT_NEAR(scores[h * len + p], 0.125 * s, 1e-4 * (1 + std::fabs(s)))
                  << IsaName(vk->isa) << " hd=" << hd << " heads=" << heads << " len=" << len;
            }
            for (int64_t e = 0; e < hd; ++e) {
              double s = 0;
              for (int64_t p = 0; p < len; ++p)
                s += double(probs[h * len + p]) * Fp16ToFp32(v[p * stride + e]);
              ASSERT_NEAR(out[h * hd + e], s, 1e-4 * (1 + std::fabs(s)))
                  << IsaName(vk->isa) << " hd=" << hd << " heads=" << heads << " len=" << len;
            }
          }
        }
      }
    }
  }
}

TEST(VecKernelsTest, F32ToF16MatchesFp32ToFp16) {
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  std::vector<float> x(1003);
  for (float& v : x) v = normal(rng) * 1000.0f;
  for (const VecKernels* vk : Tables()) {
    std::vector<uint16_t> y(x.size());
    vk->f32_to_f16(x.data(), y.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], Fp32ToFp16(x[i])) << IsaName(vk->isa);
  }
}

TEST(VecKernelsTest, ExpSumAndSiluMatchFp64) {
  std::mt19937 rng(std::random_device{}());
  std::uniform_real_distribution<float> wide(-80.0f, 80.0f);
  std::normal_distribution<float> normal;
  for (const VecKernels* vk : Tables()) {
    std::vector<float> x(1003);
    for (size_t i = 0; i < x.size(); ++i) x[i] = i % 2 ? wide(rng) : normal(rng);
    x[0] = 0.0f, x[1] = -87.0f, x[2] = 88.0f;
    std::vector<float> y = x;
    const float sum = vk->exp_sum(y.data(), static_cast<int64_t>(y.size()), 1.5f);
    double want_sum = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = std::exp(double(x[i] - 1.5f));  // the difference is taken in float
      want_sum += want;
      ASSERT_NEAR(y[i], want, 4e-7 * want + 1e-37) << IsaName(vk->isa) << " x=" << x[i];
    }
    EXPECT_NEAR(sum, want_sum, 1e-6 * want_sum) << IsaName(vk->isa);

    std::vector<float> up(x.size()), out(x.size());
    for (float& u : up) u = normal(rng);
    vk->silu_mul(x.data(), up.data(), out.data(), static_cast<int64_t>(x.size()));
    for (size_t i = 0; i < x.size(); ++i) {
      const double want = double(x[i]) / (1.0 + std::exp(-double(x[i]))) * up[i];
      ASSERT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-30)
          << IsaName(vk->isa) << " g=" << x[i];
    }
  }
}

}  // namespace
}  // namespace aiscore
