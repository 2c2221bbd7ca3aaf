#include "agent/engine/backend_registry.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "agent/cpu/cpu_backend.h"
#include "agent/cpu/cpu_features.h"
#if AISCORE_HAVE_CUDA
#include "agent/cuda/cuda_backend.h"
#endif

namespace aiscore {
namespace {

absl::StatusOr<std::unique_ptr<Backend>> CreateCpu(const BackendOptions& options) {
  Isa isa = BestIsa();
  if (!options.isa.empty()) {
    bool found = false;
    for (Isa candidate : kAllIsas) {
      if (IsaName(candidate) == options.isa) {
        if (!IsaSupported(candidate)) {
          return absl::FailedPreconditionError(
              absl::StrCat("this CPU does not support the ", options.isa, " kernels"));
        }
        isa = candidate;
        found = true;
      }
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown ISA '", options.isa, "': expected scalar, avx2, avxvnni or avx512"));
    }
  }
  return std::make_unique<CpuBackend>(options.threads, isa);
}

}  // namespace

std::vector<std::string> BackendNames() {
#if AISCORE_HAVE_CUDA
  return {"cuda", "cpu"};
#else
  return {"cpu"};
#endif
}

absl::StatusOr<std::unique_ptr<Backend>> CreateBackend(std::string_view name,
                                                       const BackendOptions& options) {
#if AISCORE_HAVE_CUDA
  if (name == "cuda") return CreateCudaBackend(options.device);
  if (name == "auto" && CudaDeviceCount() > 0) return CreateCudaBackend(options.device);
#endif
  if (name == "cpu" || name == "auto") return CreateCpu(options);
  return absl::NotFoundError(absl::StrCat("unknown backend '", std::string(name),
                                          "': this build has ",
                                          absl::StrJoin(BackendNames(), ", ")));
}

}  // namespace aiscore
