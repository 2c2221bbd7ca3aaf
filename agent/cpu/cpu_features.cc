#include "agent/cpu/cpu_features.h"

#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

namespace aiscore {
namespace {

struct Flag {
  const char* name;
  bool present;
};

std::vector<Flag> DetectFlags() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return {
      {"avx", __builtin_cpu_supports("avx") != 0},
      {"avx2", __builtin_cpu_supports("avx2") != 0},
      {"fma", __builtin_cpu_supports("fma") != 0},
      {"f16c", __builtin_cpu_supports("f16c") != 0},
      {"avxvnni", __builtin_cpu_supports("avxvnni") != 0},
      {"avx512f", __builtin_cpu_supports("avx512f") != 0},
      {"avx512bw", __builtin_cpu_supports("avx512bw") != 0},
      {"avx512vl", __builtin_cpu_supports("avx512vl") != 0},
      {"avx512dq", __builtin_cpu_supports("avx512dq") != 0},
      {"avx512vnni", __builtin_cpu_supports("avx512vnni") != 0},
      {"avx512bf16", __builtin_cpu_supports("avx512bf16") != 0},
  };
#else
  return {};
#endif
}

const std::vector<Flag>& Flags() {
  static const std::vector<Flag> flags = DetectFlags();
  return flags;
}

bool Has(std::string_view name) {
  for (const Flag& f : Flags()) {
    if (name == f.name) return f.present;
  }
  return false;
}

}  // namespace

unsigned AmdFamily() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (!__builtin_cpu_is("amd")) return 0;
  unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
  if (__get_cpuid(1, &eax, &ebx, &ecx, &edx) == 0) return 0;
  const unsigned base = (eax >> 8) & 0xf;
  return base == 0xf ? base + ((eax >> 20) & 0xff) : base;
#else
  return 0;
#endif
}

bool StreamPrefetchFor(const char* forced, unsigned amd_family) {
  if (forced != nullptr && (std::strcmp(forced, "0") == 0 || std::strcmp(forced, "1") == 0)) {
    return forced[0] == '1';
  }
  return amd_family >= 0x1a;
}

extern const bool kStreamPrefetch =
    StreamPrefetchFor(std::getenv("AISCORE_STREAM_PREFETCH"), AmdFamily());

std::string_view IsaName(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return "scalar";
    case Isa::kAvx2:
      return "avx2";
    case Isa::kAvxVnni:
      return "avxvnni";
    case Isa::kAvx512:
      return "avx512";
  }
  return "unknown";
}

bool IsaSupported(Isa isa) {
  switch (isa) {
    case Isa::kScalar:
      return true;
    case Isa::kAvx2:
#ifdef AISCORE_HAVE_X86_KERNELS
      return Has("avx2") && Has("fma") && Has("f16c");
#else
      return false;
#endif
    case Isa::kAvxVnni:
#ifdef AISCORE_HAVE_X86_KERNELS
      return IsaSupported(Isa::kAvx2) && Has("avxvnni");
#else
      return false;
#endif
    case Isa::kAvx512:
#ifdef AISCORE_HAVE_X86_KERNELS
      return IsaSupported(Isa::kAvx2) && Has("avx512f") && Has("avx512bw") && Has("avx512vl") &&
             Has("avx512dq") && Has("avx512vnni");
#else
      return false;
#endif
  }
  return false;
}

std::vector<Isa> SupportedIsas() {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas) {
    if (IsaSupported(isa)) out.push_back(isa);
  }
  return out;
}

Isa BestIsa() {
  if (const char* forced = std::getenv("AISCORE_ISA")) {
    for (Isa isa : kAllIsas) {
      if (IsaName(isa) == forced && IsaSupported(isa)) return isa;
    }
  }
  Isa best = Isa::kScalar;
  for (Isa isa : kAllIsas) {
    if (IsaSupported(isa)) best = isa;
  }
  return best;
}

std::string CpuFlagsString() {
  std::string out;
  for (const Flag& f : Flags()) {
    if (!f.present) continue;
    if (!out.empty()) out += ' ';
    out += f.name;
  }
  return out;
}

}  // namespace aiscore
