// The memory bandwidth probe: every ISA's read loop sums exactly what it
// reads (so no load can be dropped), and the probe measures, repeatedly, on
// the buffer it made once.
#include "agent/cpu/read_bandwidth.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace aiscore {
namespace {

// The sum of n bytes at p as little-endian 64-bit words, modulo 2^64.
uint64_t ReferenceSum(const unsigned char* p, size_t n) {
  uint64_t s = 0;
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v;
    std::memcpy(&v, p + i, 8);
    s += v;
  }
  return s;
}

TEST(ReadBandwidthTest, EveryReadLoopSumsWhatItReads) {
  const unsigned seed = std::random_device{}();
  std::mt19937_64 rng(seed);
  for (size_t n : {size_t{256}, size_t{256} * 37, size_t{1} << 20}) {
    std::vector<uint64_t> words(n / 8);
    for (uint64_t& w : words) w = rng();
    const auto* p = reinterpret_cast<const unsigned char*>(words.data());
    const uint64_t want = ReferenceSum(p, n);
    for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512}) {
      if (!IsaSupported(isa)) continue;
      EXPECT_EQ(SumForBandwidth(p, n, isa), want) << IsaName(isa) << " n " << n << " seed " << seed;
    }
#ifdef AISCORE_HAVE_X86_KERNELS
    if (IsaSupported(Isa::kAvx2)) {
      for (bool prefetch : {false, true}) {
        EXPECT_EQ(SumForBandwidthAvx2(p, n, prefetch), want)
            << "prefetch " << prefetch << " n " << n << " seed " << seed;
      }
    }
#endif
  }
}

TEST(ReadBandwidthTest, ProbeMeasuresAgainAndAgainOnOneBuffer) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    absl::StatusOr<std::unique_ptr<ReadBandwidthProbe>> probe =
        ReadBandwidthProbe::Create(pool, BestIsa(), size_t{8} << 20, 3);
    ASSERT_TRUE(probe.ok()) << probe.status();
    for (int i = 0; i < 3; ++i) {
      absl::StatusOr<double> rate = (*probe)->Measure();
      ASSERT_TRUE(rate.ok()) << rate.status();
      EXPECT_TRUE(std::isfinite(*rate)) << threads << " threads";
      EXPECT_GT(*rate, 1e8) << threads << " threads";  // 0.1 GB/s: far below any machine
    }
  }
}

TEST(ReadBandwidthTest, ProbeRejectsABufferTooSmallToShare) {
  ThreadPool pool(2);
  absl::StatusOr<std::unique_ptr<ReadBandwidthProbe>> probe =
      ReadBandwidthProbe::Create(pool, Isa::kScalar, 300);
  ASSERT_FALSE(probe.ok());
  EXPECT_EQ(probe.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(probe.status().message().find("too small"), std::string::npos) << probe.status();
}

}  // namespace
}  // namespace aiscore
