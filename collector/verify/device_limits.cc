#include "collector/verify/device_limits.h"

#include <algorithm>

#include "scoring/hardware_table.h"

namespace aiscore {
namespace {

// The largest figures of any row: the bound for a GPU the table lacks.
DeviceLimits FastestInTable() {
  DeviceLimits limits;
  for (const HardwareSpec& row : HardwareTable()) {
    limits.memory_bandwidth = std::max(limits.memory_bandwidth, row.memory_bandwidth);
    limits.peak_flops = std::max(limits.peak_flops, row.fp16_flops);
  }
  return limits;
}

}  // namespace

std::optional<DeviceLimits> HardwareTableLimits(const v1::RunResult& result) {
  if (result.hardware().gpus_size() == 0 || result.backend().name() == "cpu") {
    return DeviceLimits{kCpuMemoryBandwidthBound, kCpuPeakFlopsBound};
  }
  const v1::GpuInfo& gpu = result.hardware().gpus(0);
  if (const HardwareSpec* row = MatchHardware(gpu.name(), gpu.memory_bytes())) {
    return DeviceLimits{row->memory_bandwidth, row->fp16_flops};
  }
  static const DeviceLimits fastest = FastestInTable();
  return fastest;
}

VerifierOptions CollectorVerifierOptions() {
  VerifierOptions options;
  options.device_limits = HardwareTableLimits;
  options.physics_min_weight_bytes = kMinPhysicsWeightBytes;
  return options;
}

}  // namespace aiscore
