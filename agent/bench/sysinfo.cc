// Hardware and build probing: parsers over /proc and /etc text, and the
// probes that read this machine's files through them.
#include "agent/bench/sysinfo.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/bench/build_info.h"

namespace aiscore {
namespace {

constexpr std::string_view kWhitespace = " \t\r\n\v\f";

std::string_view Trim(std::string_view s) {
  const size_t begin = s.find_first_not_of(kWhitespace);
  if (begin == std::string_view::npos) return {};
  const size_t end = s.find_last_not_of(kWhitespace);
  return s.substr(begin, end - begin + 1);
}

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const size_t eol = text.find('\n');
    lines.push_back(text.substr(0, eol));
    if (eol == std::string_view::npos) break;
    text.remove_prefix(eol + 1);
  }
  return lines;
}

std::vector<std::string_view> Words(std::string_view text) {
  std::vector<std::string_view> words;
  while (true) {
    const size_t begin = text.find_first_not_of(kWhitespace);
    if (begin == std::string_view::npos) break;
    text.remove_prefix(begin);
    const size_t end = text.find_first_of(kWhitespace);
    words.push_back(text.substr(0, end));
    if (end == std::string_view::npos) break;
    text.remove_prefix(end);
  }
  return words;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

// x86 "flags" reported, in this order: the SIMD extensions the kernels of
// this and similar engines choose between.
constexpr std::string_view kX86Flags[] = {"sse4_2",      "avx",      "avx2",        "fma",
                                          "f16c",        "avx_vnni", "avx512f",     "avx512bw",
                                          "avx512vl",    "avx512dq", "avx512_vnni", "avx512_bf16",
                                          "avx512_fp16", "amx_tile", "amx_bf16",    "amx_int8"};

// aarch64 "Features" reported, in this order, under their usual names.
struct ArmFeature {
  std::string_view kernel_name;  // as /proc/cpuinfo spells it
  std::string_view name;         // as reported
};
constexpr ArmFeature kArmFeatures[] = {
    {"asimd", "neon"}, {"asimdhp", "fp16"}, {"asimddp", "dotprod"}, {"i8mm", "i8mm"},
    {"bf16", "bf16"},  {"sve", "sve"},      {"sve2", "sve2"},       {"sme", "sme"}};

// aarch64 cores by ("CPU implementer", "CPU part"), as lscpu names them.
struct ArmVendor {
  std::string_view implementer;
  std::string_view name;
};
constexpr ArmVendor kArmVendors[] = {
    {"0x41", "ARM"},      {"0x42", "Broadcom"},  {"0x43", "Cavium"},
    {"0x46", "Fujitsu"},  {"0x48", "HiSilicon"}, {"0x4e", "NVIDIA"},
    {"0x51", "Qualcomm"}, {"0x61", "Apple"},     {"0xc0", "Ampere"}};
struct ArmPart {
  std::string_view implementer;
  std::string_view part;
  std::string_view name;
};
constexpr ArmPart kArmParts[] = {
    {"0x41", "0xd03", "Cortex-A53"},   {"0x41", "0xd05", "Cortex-A55"},
    {"0x41", "0xd07", "Cortex-A57"},   {"0x41", "0xd08", "Cortex-A72"},
    {"0x41", "0xd09", "Cortex-A73"},   {"0x41", "0xd0a", "Cortex-A75"},
    {"0x41", "0xd0b", "Cortex-A76"},   {"0x41", "0xd0c", "Neoverse-N1"},
    {"0x41", "0xd0d", "Cortex-A77"},   {"0x41", "0xd40", "Neoverse-V1"},
    {"0x41", "0xd41", "Cortex-A78"},   {"0x41", "0xd44", "Cortex-X1"},
    {"0x41", "0xd46", "Cortex-A510"},  {"0x41", "0xd47", "Cortex-A710"},
    {"0x41", "0xd48", "Cortex-X2"},    {"0x41", "0xd49", "Neoverse-N2"},
    {"0x41", "0xd4f", "Neoverse-V2"},  {"0x41", "0xd84", "Neoverse-V3"},
    {"0x41", "0xd8e", "Neoverse-N3"},  {"0x46", "0x001", "A64FX"},
    {"0x48", "0xd01", "TaiShan-v110"}, {"0x4e", "0x004", "Carmel"},
    {"0xc0", "0xac3", "Ampere-1"},     {"0xc0", "0xac4", "Ampere-1a"}};

std::string ArmModelName(std::string_view implementer, std::string_view part) {
  const std::string impl = Lower(implementer), prt = Lower(part);
  std::string vendor;
  for (const ArmVendor& v : kArmVendors) {
    if (v.implementer == impl) vendor = std::string(v.name);
  }
  for (const ArmPart& p : kArmParts) {
    if (p.implementer == impl && p.part == prt)
      return absl::StrCat(vendor, " ", std::string(p.name));
  }
  if (vendor.empty()) return absl::StrCat("implementer ", impl, " part ", prt);
  return absl::StrCat(vendor, " part ", prt);
}

// The text of a file, empty when it cannot be read. /proc files report a
// size of 0, so read to the end rather than by size.
std::string ReadWholeFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// An os-release value: double or single quotes removed, backslash escapes
// resolved (os-release(5)).
std::string Unquote(std::string_view value) {
  if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') &&
      value.back() == value.front()) {
    value = value.substr(1, value.size() - 2);
  }
  std::string out;
  out.reserve(value.size());
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\\' && i + 1 < value.size()) ++i;
    out.push_back(value[i]);
  }
  return out;
}

}  // namespace

aiscore::v1::CpuInfo ParseCpuInfo(std::string_view proc_cpuinfo) {
  aiscore::v1::CpuInfo cpu;
  int processors = 0;
  std::set<std::pair<std::string, std::string>> cores;  // (physical id, core id)
  std::string physical_id, core_id;
  bool have_core_id = false;
  std::string_view x86_flags, arm_features, implementer, part;
  bool have_x86_flags = false, have_arm_features = false;

  auto end_entry = [&] {
    if (have_core_id) cores.emplace(physical_id, core_id);
    physical_id.clear();
    core_id.clear();
    have_core_id = false;
  };
  for (std::string_view line : Lines(proc_cpuinfo)) {
    if (Trim(line).empty()) {
      end_entry();
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    const std::string_view key = Trim(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (key == "processor") {
      end_entry();
      ++processors;
    } else if (key == "model name") {
      if (cpu.model().empty()) cpu.set_model(std::string(value));
    } else if (key == "physical id") {
      physical_id = std::string(value);
    } else if (key == "core id") {
      core_id = std::string(value);
      have_core_id = true;
    } else if (key == "flags" && !have_x86_flags) {
      x86_flags = value;
      have_x86_flags = true;
    } else if (key == "Features" && !have_arm_features) {
      arm_features = value;
      have_arm_features = true;
    } else if (key == "CPU implementer" && implementer.empty()) {
      implementer = value;
    } else if (key == "CPU part" && part.empty()) {
      part = value;
    }
  }
  end_entry();

  cpu.set_threads(processors);
  cpu.set_cores(cores.empty() ? processors : static_cast<int32_t>(cores.size()));
  if (cpu.model().empty() && !implementer.empty() && !part.empty()) {
    cpu.set_model(ArmModelName(implementer, part));
  }

  const std::vector<std::string_view> x86 = Words(x86_flags);
  const std::set<std::string_view> x86_set(x86.begin(), x86.end());
  for (std::string_view flag : kX86Flags) {
    if (x86_set.count(flag) > 0) cpu.add_isa_flags(std::string(flag));
  }
  const std::vector<std::string_view> arm = Words(arm_features);
  const std::set<std::string_view> arm_set(arm.begin(), arm.end());
  for (const ArmFeature& feature : kArmFeatures) {
    if (arm_set.count(feature.kernel_name) > 0) cpu.add_isa_flags(std::string(feature.name));
  }
  return cpu;
}

int64_t ParseMemTotal(std::string_view proc_meminfo) {
  for (std::string_view line : Lines(proc_meminfo)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || Trim(line.substr(0, colon)) != "MemTotal") continue;
    const std::vector<std::string_view> words = Words(line.substr(colon + 1));
    if (words.empty() || words.size() > 2) return 0;
    if (words.size() == 2 && words[1] != "kB") return 0;
    int64_t kib = 0;
    const std::string_view digits = words[0];
    const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), kib);
    if (error != std::errc() || end != digits.data() + digits.size() || kib < 0 ||
        kib > std::numeric_limits<int64_t>::max() / 1024) {
      return 0;
    }
    return kib * 1024;
  }
  return 0;
}

std::string ParseOsRelease(std::string_view os_release) {
  std::string pretty_name, name, version;
  for (std::string_view line : Lines(os_release)) {
    line = Trim(line);
    if (line.empty() || line.front() == '#') continue;
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    const std::string_view key = Trim(line.substr(0, equals));
    const std::string value = Unquote(Trim(line.substr(equals + 1)));
    if (key == "PRETTY_NAME") {
      pretty_name = value;
    } else if (key == "NAME") {
      name = value;
    } else if (key == "VERSION") {
      version = value;
    }
  }
  if (!pretty_name.empty()) return pretty_name;
  if (!name.empty() && !version.empty()) return absl::StrCat(name, " ", version);
  return name;
}

aiscore::v1::Hardware ProbeHardware(const Nvml* nvml) {
  aiscore::v1::Hardware hardware;
  aiscore::v1::CpuInfo* cpu = hardware.mutable_cpu();
  *cpu = ParseCpuInfo(ReadWholeFile("/proc/cpuinfo"));
  if (const long online = sysconf(_SC_NPROCESSORS_ONLN); online > 0) {
    cpu->set_threads(static_cast<int32_t>(online));
  }
  if (cpu->cores() == 0) cpu->set_cores(cpu->threads());
  cpu->set_memory_bytes(ParseMemTotal(ReadWholeFile("/proc/meminfo")));

  std::string os_release = ReadWholeFile("/etc/os-release");
  if (os_release.empty()) os_release = ReadWholeFile("/usr/lib/os-release");
  hardware.mutable_os()->set_name(ParseOsRelease(os_release));
  struct utsname uts;
  if (uname(&uts) == 0) hardware.mutable_os()->set_kernel(uts.release);

  if (nvml != nullptr) {
    const int count = nvml->DeviceCount();
    for (int i = 0; i < count; ++i) {
      absl::StatusOr<aiscore::v1::GpuInfo> gpu = nvml->Info(i);
      if (gpu.ok()) *hardware.add_gpus() = *std::move(gpu);
    }
  }
  return hardware;
}

aiscore::v1::Hardware ProbeHardware() {
  std::unique_ptr<Nvml> nvml = Nvml::Load();
  return ProbeHardware(nvml.get());
}

std::string CompilerName() {
#if defined(__clang__)
  return absl::StrCat("Clang ", __clang_major__, ".", __clang_minor__, ".", __clang_patchlevel__);
#elif defined(__GNUC__)
  return absl::StrCat("GCC ", __GNUC__, ".", __GNUC_MINOR__, ".", __GNUC_PATCHLEVEL__);
#else
  return "unknown";
#endif
}

aiscore::v1::SoftwareBuild ProbeSoftware() {
  aiscore::v1::SoftwareBuild software;
  software.set_version(build_info::kVersion);
  software.set_git_commit(build_info::kGitCommit[0] != '\0' ? build_info::kGitCommit : "unknown");
  software.set_compiler(CompilerName());
  software.set_build_type(build_info::kBuildType[0] != '\0' ? build_info::kBuildType : "unknown");
  return software;
}

}  // namespace aiscore
