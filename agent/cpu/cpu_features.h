// Which instruction sets this CPU offers, detected once at run time, and the
// kernel paths (ISAs) aiscore has for them.
//
// Kernels for an ISA are compiled with that ISA's flags in files of their
// own and only called after IsaSupported() said yes. Thread-safe.
#ifndef AISCORE_AGENT_CPU_CPU_FEATURES_H_
#define AISCORE_AGENT_CPU_CPU_FEATURES_H_

#include <string>
#include <string_view>
#include <vector>

namespace aiscore {

// Kernel paths, slowest first. The scalar path is portable C++ and always there.
enum class Isa {
  kScalar,
  kAvx2,    // AVX2 + FMA + F16C
  kAvx512,  // AVX-512 F/BW/VL/DQ + VNNI (Zen 4, Ice Lake and later)
};
inline constexpr Isa kAllIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512};

std::string_view IsaName(Isa isa);  // "scalar", "avx2", "avx512"
bool IsaSupported(Isa isa);         // by this CPU (and this build)
Isa BestIsa();                      // the fastest supported; AISCORE_ISA=name overrides
std::vector<Isa> SupportedIsas();
// The CPU's ISA flags that matter here, as a space-separated list ("avx2 fma f16c avx512f ...").
std::string CpuFlagsString();

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_CPU_FEATURES_H_
