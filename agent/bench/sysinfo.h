// What machine and which build a result was measured on: the CPU, memory,
// GPUs and operating system (aiscore::v1::Hardware), and the aiscore build
// (aiscore::v1::SoftwareBuild).
//
// Probing never fails: a field that cannot be read stays empty or 0. The
// parsers are pure functions over the text of /proc and /etc files, so tests
// feed them fixtures; they accept any text, malformed or empty, without
// crashing. Everything here is thread-safe (no shared state).
//
// GPUs come from NVML (agent/bench/nvml.h), which fills every GpuInfo field
// but multiprocessors; the CUDA backend fills that one when it runs.
#ifndef AISCORE_AGENT_BENCH_SYSINFO_H_
#define AISCORE_AGENT_BENCH_SYSINFO_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "agent/bench/nvml.h"
#include "aiscore/v1/result.pb.h"

namespace aiscore {

// Parses the text of /proc/cpuinfo:
// - model: "model name" (x86); on aarch64, which has none, the vendor and
//   core named after "CPU implementer" and "CPU part" as lscpu does
//   ("ARM Neoverse-V2"), or with the part number for a core not in the table
//   ("ARM part 0xd99"); empty when neither is there.
// - threads: the number of "processor" entries.
// - cores: the distinct ("physical id", "core id") pairs; when the file has
//   none (aarch64, most VMs without topology), the number of entries.
// - isa_flags: the SIMD extensions of interest that the first entry lists, in
//   a fixed order. x86 uses the kernel's "flags" names (sse4_2, avx, avx2,
//   fma, f16c, avx_vnni, avx512f, avx512bw, avx512vl, avx512dq, avx512_vnni,
//   avx512_bf16, avx512_fp16, amx_tile, amx_bf16, amx_int8); aarch64's
//   "Features" line is reported under the usual names: neon (asimd), fp16
//   (asimdhp), dotprod (asimddp), i8mm, bf16, sve, sve2, sme.
// - memory_bytes is left 0 (see ParseMemTotal).
aiscore::v1::CpuInfo ParseCpuInfo(std::string_view proc_cpuinfo);

// MemTotal of /proc/meminfo in bytes: the RAM the kernel manages, a little
// under what is installed. 0 when the line is missing or malformed.
int64_t ParseMemTotal(std::string_view proc_meminfo);

// The distribution's name from /etc/os-release: PRETTY_NAME, else
// "NAME VERSION", else NAME, unquoted ("Debian GNU/Linux 12 (bookworm)").
// Empty when none is there.
std::string ParseOsRelease(std::string_view os_release);

// This machine: /proc/cpuinfo, sysconf(_SC_NPROCESSORS_ONLN) for threads,
// /proc/meminfo, /etc/os-release (or /usr/lib/os-release), uname for the
// kernel, and each GPU `nvml` reports (none when `nvml` is null). A GPU whose
// Nvml::Info fails is left out.
aiscore::v1::Hardware ProbeHardware(const Nvml* nvml);
// The same, loading NVML for the duration of the call when it is present.
aiscore::v1::Hardware ProbeHardware();

// The compiler this file was built with: "GCC 12.2.0", "Clang 14.0.6".
std::string CompilerName();

// This build: version (CMake PROJECT_VERSION), git commit (12 hex digits or
// "unknown", as of the last CMake configure), compiler, CMake build type.
// cuda_runtime stays empty here; the CUDA backend fills it.
aiscore::v1::SoftwareBuild ProbeSoftware();

}  // namespace aiscore

#endif  // AISCORE_AGENT_BENCH_SYSINFO_H_
