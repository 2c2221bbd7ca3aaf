// The host's memory read bandwidth, measured the way decode reads weights:
// every thread streams its own contiguous share of a buffer far larger than
// the caches. Decode rates are reported as a fraction of this figure, taken
// in the same run, because a shared host's bandwidth varies over time.
#ifndef AISCORE_AGENT_CPU_READ_BANDWIDTH_H_
#define AISCORE_AGENT_CPU_READ_BANDWIDTH_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "agent/cpu/cpu_features.h"
#include "agent/cpu/thread_pool.h"

namespace aiscore {

// Sums n bytes (a multiple of 256) of p as 64-bit lanes, so that no load can
// be dropped, with `isa`'s loads (scalar or AVX2; higher ISAs use AVX2, which
// reads as fast). Call only with a supported ISA.
uint64_t SumForBandwidth(const unsigned char* p, size_t n, Isa isa);
#ifdef AISCORE_HAVE_X86_KERNELS
uint64_t SumForBandwidthAvx2(const unsigned char* p, size_t n);
#endif

// Reads a `bytes` buffer (huge-page advised, like weights) with every thread
// of `pool`, after one untimed pass, `repetitions` times; the median rate in
// bytes per second.
absl::StatusOr<double> MeasureReadBandwidth(ThreadPool& pool, Isa isa,
                                            size_t bytes = size_t{1} << 30, int repetitions = 5);

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_READ_BANDWIDTH_H_
