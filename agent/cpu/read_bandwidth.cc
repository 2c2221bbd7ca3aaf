#include "agent/cpu/read_bandwidth.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "agent/engine/host_memory.h"

namespace aiscore {

uint64_t SumForBandwidth(const unsigned char* p, size_t n, Isa isa) {
#ifdef AISCORE_HAVE_X86_KERNELS
  if (isa != Isa::kScalar) return SumForBandwidthAvx2(p, n);
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

absl::StatusOr<double> MeasureReadBandwidth(ThreadPool& pool, Isa isa, size_t bytes,
                                            int repetitions) {
  const int threads = pool.size();
  const size_t share = bytes / threads / 256 * 256;
  absl::StatusOr<std::shared_ptr<void>> memory = AllocateHostMemory(share * threads);
  if (!memory.ok()) return memory.status();
  auto* buffer = static_cast<unsigned char*>(memory->get());
  std::memset(buffer, 1, share * threads);
  std::vector<uint64_t> sums(threads);
  std::vector<double> rates;
  for (int rep = -1; rep < std::max(1, repetitions); ++rep) {  // rep -1 warms up
    const auto start = std::chrono::steady_clock::now();
    pool.Run([&](int t) { sums[t] = SumForBandwidth(buffer + t * share, share, isa); });
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (rep >= 0) rates.push_back(static_cast<double>(share * threads) / s);
  }
  volatile uint64_t sink = 0;
  for (uint64_t v : sums) sink = sink + v;
  std::sort(rates.begin(), rates.end());
  const size_t n = rates.size();
  return n % 2 ? rates[n / 2] : 0.5 * (rates[n / 2 - 1] + rates[n / 2]);
}

}  // namespace aiscore
