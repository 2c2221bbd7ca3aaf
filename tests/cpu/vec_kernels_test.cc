// Attention primitives of every ISA against FP64 on fresh random inputs, with
// head widths and head counts that leave partial vectors and head groups.
#include "agent/cpu/vec_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <utility>
#include <vector>

#include "agent/cpu/cpu_backend.h"
#include "agent/quant/fp16.h"
#include "tests/nmse.h"

namespace aiscore {
namespace {

std::vector<const VecKernels*> Tables() {
  std::vector<const VecKernels*> out = {&kScalarVecKernels};
#ifdef AISCORE_HAVE_X86_KERNELS
  if (IsaSupported(Isa::kAvx2)) out.push_back(&kAvx2VecKernels);
  if (IsaSupported(Isa::kAvx512)) out.push_back(&kAvx512VecKernels);
#endif
  return out;
}

TEST(VecKernelsTest, AttentionMatchesFp64) {
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  for (const VecKernels* vk : Tables()) {
    for (int64_t hd : {5, 48, 64, 128, 130}) {
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

// Causal attention of n tokens at positions first_pos .. first_pos + n - 1
// in FP64: out[t][h] for query heads h < group sharing one KV head.
std::vector<double> Fp64Attention(const std::vector<float>& q, int64_t q_stride, int64_t n,
                                  int64_t group, int64_t hd, const std::vector<uint16_t>& k,
                                  const std::vector<uint16_t>& v, int64_t kv_stride,
                                  int64_t first_pos, double scale) {
  std::vector<double> out(n * q_stride, 0.0);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < group; ++h) {
      const int64_t len = first_pos + t + 1;
      std::vector<double> w(len);
      double max = -1e300, sum = 0;
      for (int64_t p = 0; p < len; ++p) {
        double s = 0;
        for (int64_t e = 0; e < hd; ++e) {
          s += double(q[t * q_stride + h * hd + e]) * Fp16ToFp32(k[p * kv_stride + e]);
        }
        w[p] = s * scale;
        max = std::max(max, w[p]);
      }
      for (double& x : w) sum += (x = std::exp(x - max));
      for (int64_t e = 0; e < hd; ++e) {
        double o = 0;
        for (int64_t p = 0; p < len; ++p) o += w[p] * Fp16ToFp32(v[p * kv_stride + e]);
        out[t * q_stride + h * hd + e] = o / sum;
      }
    }
  }
  return out;
}

// The flash-style prefill attention against FP64: runs of tokens of every
// length up to the 64-row limit (partial row tiles), groups of 1, 4 and 8
// heads, caches shorter and longer than one 64-position pass with partial
// passes, scores large enough that the running max moves.
TEST(VecKernelsTest, AttentionPrefillMatchesFp64) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  int checked = 0;
  for (const VecKernels* vk : Tables()) {
    if (vk->attention_prefill == nullptr) continue;
    for (int64_t hd : {32, 64, 128}) {
      for (int64_t group : {1, 4, 8}) {
        for (int64_t n : {1, 3, 8, 17, 64}) {
          if (n * group > kAttentionPrefillRows) continue;
          for (int64_t first_pos : {0, 5, 63, 130}) {
            const int64_t q_stride = group * hd + 8, kv_stride = 2 * hd + 3;
            const int64_t len = first_pos + n;
            std::vector<float> q(n * q_stride);
            std::vector<uint16_t> k(len * kv_stride), v(len * kv_stride);
            for (float& x : q) x = 2.0f * normal(rng);
            for (uint16_t& x : k) x = Fp32ToFp16(normal(rng));
            for (uint16_t& x : v) x = Fp32ToFp16(normal(rng));
            std::vector<float> out(n * q_stride, 0.0f), scratch(AttentionPrefillScratch(hd), NAN);
            const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
            vk->attention_prefill(q.data(), q_stride, n, group, hd, k.data(), v.data(), kv_stride,
                                  first_pos, scale, out.data(), scratch.data());
            for (float x : out) ASSERT_TRUE(std::isfinite(x));
            EXPECT_LE(
                Nmse(Fp64Attention(q, q_stride, n, group, hd, k, v, kv_stride, first_pos, scale),
                     out),
                1e-10)
                << IsaName(vk->isa) << " hd=" << hd << " group=" << group << " n=" << n
                << " first_pos=" << first_pos << " seed=" << seed;
            ++checked;
          }
        }
      }
    }
  }
  if (checked == 0) GTEST_SKIP() << "no ISA this CPU runs has a prefill attention kernel";
}

// CpuBackend::Attention for prefill (the flash-style kernel, tokens split
// into runs over the thread pool) against the portable path (the scalar
// backend: scores, softmax, values per token), both on a 7B-like head shape.
TEST(VecKernelsTest, BackendPrefillAttentionMatchesThePortablePath) {
  std::vector<Isa> isas;
  for (Isa isa : {Isa::kAvx2, Isa::kAvx512}) {
    if (IsaSupported(isa)) isas.push_back(isa);
  }
  if (isas.empty()) GTEST_SKIP() << "this CPU lacks avx2";
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const AttentionShape shape{.n_heads = 8, .n_kv_heads = 2, .head_dim = 128, .max_context = 512};
  const int64_t q_dim = shape.n_heads * shape.head_dim, kv_dim = shape.n_kv_heads * shape.head_dim;
  for (const auto& [n, pos] : {std::pair<int64_t, int64_t>{150, 37}, {17, 300}, {64, 0}}) {
    std::vector<float> q(n * q_dim);
    std::vector<uint16_t> k(shape.max_context * kv_dim), v(shape.max_context * kv_dim);
    for (float& x : q) x = normal(rng);
    for (uint16_t& x : k) x = Fp32ToFp16(normal(rng));
    for (uint16_t& x : v) x = Fp32ToFp16(normal(rng));
    std::vector<float> portable(n * q_dim, NAN);
    CpuBackend(1, Isa::kScalar)
        .Attention(q.data(), k.data(), v.data(), n, pos, shape, portable.data());
    const std::vector<double> ref(portable.begin(), portable.end());
    for (Isa isa : isas) {
      std::vector<float> fast(n * q_dim, NAN);
      CpuBackend(3, isa).Attention(q.data(), k.data(), v.data(), n, pos, shape, fast.data());
      EXPECT_LE(Nmse(ref, fast), 1e-10)
          << IsaName(isa) << " n=" << n << " pos=" << pos << " seed=" << seed;
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
