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
  kAvx2,     // AVX2 + FMA + F16C
  kAvxVnni,  // the same + AVX-VNNI: vpdpbusd on ymm (Intel client cores since Alder Lake, Zen 5)
  kAvx512,   // AVX-512 F/BW/VL/DQ + VNNI (Zen 4, Ice Lake and later)
};
inline constexpr Isa kAllIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvxVnni, Isa::kAvx512};

std::string_view IsaName(Isa isa);  // "scalar", "avx2", "avxvnni", "avx512"
bool IsaSupported(Isa isa);         // by this CPU (and this build)
Isa BestIsa();                      // the fastest supported; AISCORE_ISA=name overrides
std::vector<Isa> SupportedIsas();
// Whether decode kernels that read their weights as one sequential stream
// prefetch it in software as well (PrefetchAhead). On AMD Zen 5 (family 0x1a)
// and later they read more with it; on Zen 4 less, and elsewhere the
// hardware prefetchers are left to follow the stream (docs/performance.md).
// AISCORE_STREAM_PREFETCH=1 or 0 overrides. Set once before main (and so not
// to be read by another static's initialization).
extern const bool kStreamPrefetch;
// The rule, for tests: `forced` is that variable's value (nullptr if unset),
// anything but "0" and "1" ignored; amd_family as AmdFamily() gives it.
bool StreamPrefetchFor(const char* forced, unsigned amd_family);
// AMD's display family (0x19 Zen 3 and 4, 0x1a Zen 5); 0 for other vendors.
unsigned AmdFamily();
// The CPU's ISA flags that matter here, as a space-separated list ("avx2 fma f16c avx512f ...").
std::string CpuFlagsString();

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_CPU_FEATURES_H_
