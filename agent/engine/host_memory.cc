#include "agent/engine/host_memory.h"

#include <sys/mman.h>

#include <fstream>
#include <string>

#include "absl/strings/str_format.h"

namespace aiscore {

absl::StatusOr<std::shared_ptr<void>> AllocateHostMemory(size_t bytes) {
  const size_t size = bytes == 0 ? 1 : bytes;
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("could not allocate %.2f GiB of host memory", size / 1073741824.0));
  }
#ifdef MADV_HUGEPAGE
  madvise(p, size, MADV_HUGEPAGE);  // Advice only: failure is harmless.
#endif
  return std::shared_ptr<void>(p, [size](void* q) { munmap(q, size); });
}

namespace {

// A field of /proc/meminfo ("MemTotal:"), in bytes; 0 if absent.
size_t MemInfo(const std::string& field) {
  std::ifstream meminfo("/proc/meminfo");
  std::string key, unit;
  size_t kib = 0;
  while (meminfo >> key >> kib >> unit) {
    if (key == field) return kib * 1024;
  }
  return 0;
}

}  // namespace

size_t AvailableHostMemory() { return MemInfo("MemAvailable:"); }
size_t TotalHostMemory() { return MemInfo("MemTotal:"); }

int64_t PeakResidentBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

void ResetPeakResidentBytes() {
  // Writing 5 resets VmHWM to the current resident set (Linux 4.0 and later).
  std::ofstream clear("/proc/self/clear_refs");
  clear << "5";
}

}  // namespace aiscore
