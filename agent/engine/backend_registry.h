// The one place that knows which backends this build has. Built as its own
// library (aiscore_backends) so the engine itself depends on none of them.
#ifndef AISCORE_AGENT_ENGINE_BACKEND_REGISTRY_H_
#define AISCORE_AGENT_ENGINE_BACKEND_REGISTRY_H_

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "agent/engine/backend.h"

namespace aiscore {

struct BackendOptions {
  int threads = 0;  // CPU threads; 0 = one per online CPU
  std::string isa;  // CPU kernel path ("scalar", "avx2", "avxvnni", "avx512"); empty = best
  int device = 0;   // GPU index
};

// Names of the backends built in, best first ("cuda", "cpu").
std::vector<std::string> BackendNames();
// "auto" picks the first backend whose device is present.
absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view name,
                                                       const BackendOptions& options = {});

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_BACKEND_REGISTRY_H_
