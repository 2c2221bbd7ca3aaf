#include "agent/cpu/read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "agent/engine/host_memory.h"

namespace aiscore {

uint64_t SumForBandwidth(const unsigned char* p, size_t n, Isa isa) {
#ifdef AISCORE_HAVE_X86_KERNELS
  if (isa != Isa::kScalar) return SumForBandwidthAvx2(p, n, /*prefetch=*/true);
#endif
  uint64_t s[4] = {0, 0, 0, 0};
  for (size_t i = 0; i < n; i += 32) {
    for (int j = 0; j < 4; ++j) {
      uint64_t v;
      std::memcpy(&v, p + i + 8 * j, 8);
      s[j] += v;
    }
  }
  return s[0] + s[1] + s[2] + s[3];
}

absl::StatusOr<std::unique_ptr<ReadBandwidthProbe>> ReadBandwidthProbe::Create(ThreadPool& pool,
                                                                               Isa isa,
                                                                               size_t bytes,
                                                                               int repetitions) {
  const size_t share = bytes / pool.size() / 256 * 256;
  if (share == 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "a bandwidth probe buffer of %d bytes is too small for %d threads (256 bytes each)", bytes,
        pool.size()));
  }
  absl::StatusOr<std::shared_ptr<void>> memory = AllocateHostMemory(share * pool.size());
  if (!memory.ok()) return memory.status();
  std::memset(memory->get(), 1, share * pool.size());
  return std::unique_ptr<ReadBandwidthProbe>(
      new ReadBandwidthProbe(pool, isa, *std::move(memory), share, std::max(1, repetitions)));
}

absl::StatusOr<double> ReadBandwidthProbe::Measure() {
  const int threads = pool_.size();
  const auto* buffer = static_cast<const unsigned char*>(memory_.get());
  std::vector<uint64_t> sums(threads);
  std::vector<double> rates;
  for (int rep = -1; rep < repetitions_; ++rep) {  // rep -1 warms up
    const auto start = std::chrono::steady_clock::now();
    pool_.Run([&](int t) { sums[t] = SumForBandwidth(buffer + t * share_, share_, isa_); });
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep >= 0) rates.push_back(static_cast<double>(share_ * threads) / s);
  }
  volatile uint64_t sink = 0;
  for (uint64_t v : sums) sink = sink + v;
  std::sort(rates.begin(), rates.end());
  const size_t n = rates.size();
  return n % 2 ? rates[n / 2] : 0.5 * (rates[n / 2 - 1] + rates[n / 2]);
}

}  // namespace aiscore
