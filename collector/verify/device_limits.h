// The device limits the collector's physics check uses (DESIGN.md "Trust"),
// from the hardware spec table (scoring/hardware_table.h):
// - a result whose first GPU matches a row: that row's memory bandwidth and
//   dense FP16 rate;
// - a GPU the table does not know: the largest bandwidth and rate of any row
//   (no known device is faster), so the check still bounds it;
// - a CPU-only result: generous bounds above any CPU server
//   (kCpuMemoryBandwidthBound, kCpuPeakFlopsBound), since CPU models are not
//   in the table.
// Models smaller than kMinPhysicsWeightBytes are not checked: they run from
// caches (an H100's L2 holds 50 MB, an MI300X's Infinity Cache 256 MB).
//
// Pure; thread-safe.
#ifndef AISCORE_COLLECTOR_VERIFY_DEVICE_LIMITS_H_
#define AISCORE_COLLECTOR_VERIFY_DEVICE_LIMITS_H_

#include <optional>

#include "aiscore/v1/result.pb.h"
#include "collector/verify/submission_verifier.h"

namespace aiscore {

// Two sockets of 12-channel DDR5-6400 read 1.2 TB/s, a Xeon Max's HBM about
// 1 TB/s per socket: 3 TB/s is above any CPU machine.
inline constexpr double kCpuMemoryBandwidthBound = 3e12;  // bytes/s
// Two 128-core sockets with 2 x 512-bit FMA units at 4 GHz, or AMX tiles:
// well under 500 TFLOP/s.
inline constexpr double kCpuPeakFlopsBound = 5e14;  // FLOP/s
inline constexpr double kMinPhysicsWeightBytes = 1ull << 30;  // bytes read per token

// The limits of the device `result` ran on, as above. Never nullopt.
std::optional<DeviceLimits> HardwareTableLimits(const v1::RunResult& result);

// The verifier options a collector runs with: the options' defaults, with
// the hardware table's limits and kMinPhysicsWeightBytes.
VerifierOptions CollectorVerifierOptions();

}  // namespace aiscore

#endif  // AISCORE_COLLECTOR_VERIFY_DEVICE_LIMITS_H_
