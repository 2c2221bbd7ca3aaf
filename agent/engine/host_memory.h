// Large host allocations for weights, KV caches and scratch, and how much
// host memory is available.
//
// Allocations are anonymous mappings advised to use transparent huge pages
// (streaming many GiB of weights through 4 KiB pages costs TLB misses),
// zero-filled, page-aligned, and freed when the last shared_ptr goes.
#ifndef AISCORE_AGENT_ENGINE_HOST_MEMORY_H_
#define AISCORE_AGENT_ENGINE_HOST_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"

namespace aiscore {

// ResourceExhausted when the system refuses the mapping.
absl::StatusOr<std::shared_ptr<void>> AllocateHostMemory(size_t bytes);

// Host memory available to a new allocation (MemAvailable), in bytes; 0 if unknown.
size_t AvailableHostMemory();
// All of the host's memory (MemTotal), in bytes; 0 if unknown.
size_t TotalHostMemory();

// The process's peak resident set (VmHWM) since it started or since the
// last ResetPeakResidentBytes(), in bytes; 0 if unknown.
int64_t PeakResidentBytes();
// Sets the peak to the current resident set (Linux: /proc/self/clear_refs).
void ResetPeakResidentBytes();

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_HOST_MEMORY_H_
