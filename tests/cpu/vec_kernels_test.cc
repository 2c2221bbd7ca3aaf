// Attention primitives of every ISA against FP64 on fresh random inputs, with
// head widths and head counts that leave partial vectors and head groups.
#include "agent/cpu/vec_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "agent/cpu/cpu_backend.h"
#include "agent/quant/fp16.h"
#include "tests/kv_cache_layout.h"
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

// The decode block kernels against FP64: head widths that leave partial
// vectors (5, 130), take other paths (48: 16 columns at a time; 72: not a
// multiple of 16) or have their own (64, 128), groups that leave partial
// head sets and target-7b's 1 x 4, blocks of every shape up to
// kAttentionDecodeBlock positions, values with and without a rescale of the
// earlier output.
TEST(VecKernelsTest, AttentionDecodeBlocksMatchFp64) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  for (const VecKernels* vk : Tables()) {
    for (int64_t hd : {5, 48, 64, 72, 128, 130}) {
      for (const auto& [kv_heads, group] :
           {std::pair<int64_t, int64_t>{1, 1}, {2, 3}, {2, 4}, {1, 4}, {1, 6}}) {
        for (int64_t n : {1, 5, 17, 64}) {
          const int64_t heads = kv_heads * group, stride = kv_heads * hd + 3;
          std::vector<float> q(heads * hd), weights(heads * kAttentionDecodeBlock), rescale(heads);
          std::vector<uint16_t> k(n * stride), v(n * stride);
          for (float& x : q) x = normal(rng);
          for (float& x : weights) x = std::fabs(normal(rng)) / n;
          for (float& x : rescale) x = std::fabs(normal(rng));
          for (uint16_t& x : k) x = Fp32ToFp16(normal(rng));
          for (uint16_t& x : v) x = Fp32ToFp16(normal(rng));
          std::vector<float> scores(heads * kAttentionDecodeBlock, NAN), block_max(heads, NAN);
          vk->attention_decode_scores(q.data(), kv_heads, group, hd, k.data(), v.data(), stride, n,
                                      0.125f, scores.data(), block_max.data());
          std::vector<float> old(heads * hd), fresh(heads * hd, NAN);
          for (float& x : old) x = normal(rng);
          std::vector<float> rescaled = old;
          vk->attention_decode_values(weights.data(), nullptr, kv_heads, group, hd, v.data(),
                                      stride, n, k.data(), n, fresh.data());
          vk->attention_decode_values(weights.data(), rescale.data(), kv_heads, group, hd, v.data(),
                                      stride, n, k.data(), n, rescaled.data());
          const std::string where = std::string(IsaName(vk->isa)) + " hd=" + std::to_string(hd) +
                                    " heads=" + std::to_string(kv_heads) + "x" +
                                    std::to_string(group) + " n=" + std::to_string(n) +
                                    " seed=" + std::to_string(seed);
          for (int64_t h = 0; h < heads; ++h) {
            const int64_t at = (h / group) * hd;
            float max = -INFINITY;
            for (int64_t p = 0; p < n; ++p) {
              double s = 0;
              for (int64_t e = 0; e < hd; ++e) {
                s += double(q[h * hd + e]) * Fp16ToFp32(k[p * stride + at + e]);
              }
              const float got = scores[h * kAttentionDecodeBlock + p];
              ASSERT_NEAR(got, 0.125 * s, 1e-4 * (1 + std::fabs(s))) << where;
              max = std::max(max, got);
            }
            ASSERT_EQ(block_max[h], max) << where;
            for (int64_t e = 0; e < hd; ++e) {
              double s = 0;
              for (int64_t p = 0; p < n; ++p) {
                s += double(weights[h * kAttentionDecodeBlock + p]) *
                     Fp16ToFp32(v[p * stride + at + e]);
              }
              ASSERT_NEAR(fresh[h * hd + e], s, 1e-4 * (1 + std::fabs(s))) << where;
              const double want = s + double(rescale[h]) * old[h * hd + e];
              ASSERT_NEAR(rescaled[h * hd + e], want, 1e-4 * (1 + std::fabs(want))) << where;
            }
          }
        }
      }
    }
  }
}

// Causal attention of n tokens at positions first_pos .. first_pos + n - 1
// in FP64: out[t][h] for query heads h < kv_heads * group, head h reading KV
// head h / group (at (h / group) * hd in each cache row).
std::vector<double> Fp64Attention(const std::vector<float>& q, int64_t q_stride, int64_t n,
                                  int64_t group, int64_t hd, const std::vector<uint16_t>& k,
                                  const std::vector<uint16_t>& v, int64_t kv_stride,
                                  int64_t first_pos, double scale, int64_t kv_heads = 1) {
  std::vector<double> out(n * q_stride, 0.0);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t h = 0; h < kv_heads * group; ++h) {
      const int64_t len = first_pos + t + 1, at = (h / group) * hd;
      std::vector<double> w(len);
      double max = -1e300, sum = 0;
      for (int64_t p = 0; p < len; ++p) {
        double s = 0;
        for (int64_t e = 0; e < hd; ++e) {
          s += double(q[t * q_stride + h * hd + e]) * Fp16ToFp32(k[p * kv_stride + at + e]);
        }
        w[p] = s * scale;
        max = std::max(max, w[p]);
      }
      for (double& x : w) sum += (x = std::exp(x - max));
      for (int64_t e = 0; e < hd; ++e) {
        double o = 0;
        for (int64_t p = 0; p < len; ++p) o += w[p] * Fp16ToFp32(v[p * kv_stride + at + e]);
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

// CpuBackend::Attention for decode (runs of the cache over the threads,
// AttentionDecodeRun, merged) against FP64, every ISA: caches of one block
// or less, of partial blocks, and long enough for many-block runs; head
// shapes that take each kernel path. The bits do not depend on the thread
// count, and a batch of tokens gets the bits each would get alone.
TEST(VecKernelsTest, BackendDecodeAttentionMatchesFp64) {
  const uint32_t seed = std::random_device{}();
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  struct Case {
    int64_t heads, kv_heads, hd;
  };
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
    if (!IsaSupported(isa)) continue;
    for (const Case& c : {Case{8, 2, 128}, Case{6, 2, 48}, Case{12, 2, 72}, Case{3, 3, 64}}) {
      for (int64_t pos : {0, 63, 64, 700, 2100}) {
        const AttentionShape shape{
            .n_heads = c.heads, .n_kv_heads = c.kv_heads, .head_dim = c.hd, .max_context = 2200};
        const int64_t q_dim = c.heads * c.hd, kv_dim = c.kv_heads * c.hd, n = 3;
        std::vector<float> q(n * q_dim);
        std::vector<uint16_t> k(shape.max_context * kv_dim), v(shape.max_context * kv_dim);
        for (float& x : q) x = 2.0f * normal(rng);
        for (uint16_t& x : k) x = Fp32ToFp16(normal(rng));
        for (uint16_t& x : v) x = Fp32ToFp16(normal(rng));
        const std::string where = std::string(IsaName(isa)) + " heads=" + std::to_string(c.heads) +
                                  "/" + std::to_string(c.kv_heads) + " hd=" + std::to_string(c.hd) +
                                  " pos=" + std::to_string(pos) + " seed=" + std::to_string(seed);
        std::vector<float> one(n * q_dim, NAN), three(n * q_dim, NAN), alone(n * q_dim, NAN);
        CpuBackend backend(3, isa);
        const std::vector<uint16_t> kc = ToBackendLayout(k, backend, shape);
        const std::vector<uint16_t> vc = ToBackendLayout(v, backend, shape);
        CpuBackend(1, isa).Attention(q.data(), kc.data(), vc.data(), n, pos, shape, one.data());
        backend.Attention(q.data(), kc.data(), vc.data(), n, pos, shape, three.data());
        for (int64_t t = 0; t < n; ++t) {
          backend.Attention(q.data() + t * q_dim, kc.data(), vc.data(), 1, pos + t, shape,
                            alone.data() + t * q_dim);
        }
        const float scale = 1.0f / std::sqrt(static_cast<float>(c.hd));
        EXPECT_LE(Nmse(Fp64Attention(q, q_dim, n, c.heads / c.kv_heads, c.hd, k, v, kv_dim, pos,
                                     scale, c.kv_heads),
                       one),
                  1e-10)
            << where;
        for (int64_t i = 0; i < n * q_dim; ++i) {
          ASSERT_EQ(one[i], three[i]) << where << " i=" << i;
          ASSERT_EQ(one[i], alone[i]) << where << " i=" << i;
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

// RMSNorm of rows of odd and large widths (partial vectors, the target's
// 4096), and of magnitudes far from 1 (where a float sum of squares would
// lose digits or overflow).
TEST(VecKernelsTest, RmsNormMatchesFp64) {
  std::mt19937 rng(std::random_device{}());
  std::normal_distribution<float> normal;
  for (const VecKernels* vk : Tables()) {
    for (int64_t n : {1, 5, 16, 17, 1003, 4096}) {
      for (float magnitude : {1e-3f, 1.0f, 3e4f}) {
        std::vector<float> x(n), w(n), out(n, NAN);
        for (float& v : x) v = magnitude * normal(rng);
        for (float& v : w) v = normal(rng);
        const float eps = 1e-5f;
        vk->rms_norm(x.data(), w.data(), n, eps, out.data());
        double sum = 0;
        for (float v : x) sum += double(v) * v;
        const double scale = 1.0 / std::sqrt(sum / double(n) + eps);
        for (int64_t i = 0; i < n; ++i) {
          const double want = double(x[i]) * scale * w[i];
          ASSERT_NEAR(out[i], want, 1e-6 * std::fabs(want) + 1e-30)
              << IsaName(vk->isa) << " n=" << n << " magnitude=" << magnitude << " i=" << i;
        }
      }
    }
  }
}

}  // namespace
}  // namespace aiscore
