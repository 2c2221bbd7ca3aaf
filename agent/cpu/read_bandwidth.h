// The host's memory read bandwidth, measured the way decode reads weights:
// every thread streams its own contiguous share of a buffer far larger than
// the caches, prefetching ahead as the decode kernels do. Decode rates are
// reported as a fraction of this figure, taken in the same run, because a
// shared host's bandwidth varies over time.
#ifndef AISCORE_AGENT_CPU_READ_BANDWIDTH_H_
#define AISCORE_AGENT_CPU_READ_BANDWIDTH_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "agent/cpu/cpu_features.h"
#include "agent/cpu/thread_pool.h"
#include "agent/engine/backend.h"

namespace aiscore {

// Sums n bytes (a multiple of 256) of p as 64-bit lanes, so that no load can
// be dropped, with `isa`'s loads: scalar loads as the scalar kernels read;
// for higher ISAs, AVX2 loads (AVX-512 loads read no faster) with the
// non-temporal prefetch kStreamPrefetchAhead ahead that the decode kernels
// use (simd_helpers_x86.h). Call only with a supported ISA.
uint64_t SumForBandwidth(const unsigned char* p, size_t n, Isa isa);
#ifdef AISCORE_HAVE_X86_KERNELS
// Prefetch: as above; without, AVX2 loads alone (for comparison).
uint64_t SumForBandwidthAvx2(const unsigned char* p, size_t n, bool prefetch);
#endif

// Reads a `bytes` buffer (huge-page advised, like weights; allocated and
// touched once, by Create) with every thread of `pool`.
class ReadBandwidthProbe : public BandwidthProbe {
 public:
  static absl::StatusOr<std::unique_ptr<ReadBandwidthProbe>> Create(ThreadPool& pool, Isa isa,
                                                                    size_t bytes = size_t{1} << 30,
                                                                    int repetitions = 5);

  // The median rate in bytes per second of `repetitions` passes, after one
  // untimed.
  absl::StatusOr<double> Measure() override;

 private:
  ReadBandwidthProbe(ThreadPool& pool, Isa isa, std::shared_ptr<void> memory, size_t share,
                     int repetitions)
      : pool_(pool),
        isa_(isa),
        memory_(std::move(memory)),
        share_(share),
        repetitions_(repetitions) {}

  ThreadPool& pool_;
  Isa isa_;
  std::shared_ptr<void> memory_;
  size_t share_;  // bytes each thread reads
  int repetitions_;
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_READ_BANDWIDTH_H_
