// Tests of agent/bench/sysinfo.h: the /proc and /etc parsers on fixture texts
// (a two-socket x86 server, an aarch64 server, a VM without topology, empty
// and garbage input), the probes against what this machine's /proc,
// sysconf, uname and cpuid say, and GPUs read through a fake
// libnvidia-ml.so.1 (fake_nvml.cc).
#include "agent/bench/sysinfo.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace aiscore {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

std::vector<std::string> Flags(const aiscore::v1::CpuInfo& cpu) {
  return {cpu.isa_flags().begin(), cpu.isa_flags().end()};
}

std::string ReadFile(const char* path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// One /proc/cpuinfo entry of an Intel Xeon, as Linux 6.x prints it. The
// flags are out of the reported order on purpose, and include look-alikes
// (avx512ifma, avx512vbmi) that must not count as avx512f.
std::string XeonEntry(int processor, int physical_id, int core_id) {
  return absl::StrCat(
      "processor\t: ", processor,
      "\n"
      "vendor_id\t: GenuineIntel\n"
      "cpu family\t: 6\n"
      "model\t\t: 143\n"
      "model name\t: Intel(R) Xeon(R) Platinum 8480+\n"
      "stepping\t: 8\n"
      "cpu MHz\t\t: 2000.000\n"
      "cache size\t: 107520 KB\n"
      "physical id\t: ",
      physical_id,
      "\n"
      "siblings\t: 4\n"
      "core id\t\t: ",
      core_id,
      "\n"
      "cpu cores\t: 2\n"
      "apicid\t\t: ",
      processor,
      "\n"
      "fpu\t\t: yes\n"
      "flags\t\t: fpu vme de pse tsc msr avx512ifma avx512vbmi amx_tile amx_bf16 amx_int8 "
      "avx512_vnni avx512_bf16 avx512_fp16 avx512vl avx512bw avx512dq avx512f avx2 fma f16c avx "
      "sse4_1 sse4_2 avx_vnni ssse3 sse sse2\n"
      "bogomips\t: 4000.00\n"
      "power management:\n"
      "\n");
}

// Two sockets, two cores each, two threads per core: the core ids repeat in
// each socket, so counting distinct "core id" alone would give 2.
std::string TwoSocketXeon() {
  std::string text;
  int processor = 0;
  for (int thread = 0; thread < 2; ++thread) {
    for (int socket = 0; socket < 2; ++socket) {
      for (int core = 0; core < 2; ++core) text += XeonEntry(processor++, socket, core);
    }
  }
  return text;
}

// An NVIDIA Grace (Neoverse-V2) with four cores, as Linux 6.x prints it.
std::string GraceCpuinfo() {
  std::string text;
  for (int i = 0; i < 4; ++i) {
    absl::StrAppend(
        &text, "processor\t: ", i,
        "\n"
        "BogoMIPS\t: 2000.00\n"
        "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid "
        "asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sha512 sve asimdfhm dit uscat "
        "ilrcpc flagm ssbs sb paca pacg dcpodp sve2 sveaes svepmull svebitperm svesha3 svesm4 "
        "flagm2 frint svei8mm svebf16 i8mm bf16 dgh bti\n"
        "CPU implementer\t: 0x41\n"
        "CPU architecture: 8\n"
        "CPU variant\t: 0x0\n"
        "CPU part\t: 0xd4f\n"
        "CPU revision\t: 0\n"
        "\n");
  }
  return text;
}

TEST(SysinfoTest, ParseCpuInfoCountsPhysicalCoresAcrossTwoSockets) {
  const aiscore::v1::CpuInfo cpu = ParseCpuInfo(TwoSocketXeon());
  EXPECT_EQ(cpu.model(), "Intel(R) Xeon(R) Platinum 8480+");
  EXPECT_EQ(cpu.threads(), 8);
  EXPECT_EQ(cpu.cores(), 4);
  EXPECT_EQ(cpu.memory_bytes(), 0);
  EXPECT_THAT(Flags(cpu),
              ElementsAre("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512bw",
                          "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                          "amx_tile", "amx_bf16", "amx_int8"));
}

TEST(SysinfoTest, ParseCpuInfoReportsOnlyTheFlagsPresentInFixedOrder) {
  const std::string text =
      "processor\t: 0\nmodel name\t: Old Box\nphysical id\t: 0\ncore id\t\t: 0\n"
      "flags\t\t: avx2 sse4_2 avx512ifma avx512vbmi fma avx\n\n";
  EXPECT_THAT(Flags(ParseCpuInfo(text)), ElementsAre("sse4_2", "avx", "avx2", "fma"));
}

TEST(SysinfoTest, ParseCpuInfoFallsBackToLogicalCountWithoutTopology) {
  // A VM whose /proc/cpuinfo has neither "physical id" nor "core id".
  const std::string text =
      "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\nflags\t\t: fpu sse4_2\n\n"
      "processor\t: 1\nmodel name\t: QEMU Virtual CPU version 2.5+\nflags\t\t: fpu sse4_2\n\n"
      "processor\t: 2\nmodel name\t: QEMU Virtual CPU version 2.5+\nflags\t\t: fpu sse4_2\n";
  const aiscore::v1::CpuInfo cpu = ParseCpuInfo(text);
  EXPECT_EQ(cpu.model(), "QEMU Virtual CPU version 2.5+");
  EXPECT_EQ(cpu.threads(), 3);
  EXPECT_EQ(cpu.cores(), 3);
  EXPECT_THAT(Flags(cpu), ElementsAre("sse4_2"));
}

TEST(SysinfoTest, ParseCpuInfoNamesAarch64CoresAndFeatures) {
  const aiscore::v1::CpuInfo cpu = ParseCpuInfo(GraceCpuinfo());
  EXPECT_EQ(cpu.model(), "ARM Neoverse-V2");
  EXPECT_EQ(cpu.threads(), 4);
  EXPECT_EQ(cpu.cores(), 4);
  EXPECT_THAT(Flags(cpu), ElementsAre("neon", "fp16", "dotprod", "i8mm", "bf16", "sve", "sve2"));
}

TEST(SysinfoTest, ParseCpuInfoNamesUnknownAarch64PartsByNumber) {
  EXPECT_EQ(ParseCpuInfo("processor\t: 0\nFeatures\t: fp asimd\nCPU implementer\t: 0x41\n"
                         "CPU part\t: 0xD99\n")
                .model(),
            "ARM part 0xd99");
  const aiscore::v1::CpuInfo cpu =
      ParseCpuInfo("processor\t: 0\nFeatures\t: fp\nCPU implementer\t: 0x99\nCPU part\t: 0x001\n");
  EXPECT_EQ(cpu.model(), "implementer 0x99 part 0x001");
  EXPECT_THAT(Flags(cpu), IsEmpty());  // "fp" alone is not a SIMD extension of interest
}

TEST(SysinfoTest, ParseCpuInfoOfEmptyOrGarbageTextIsEmpty) {
  for (const std::string& text :
       {std::string(), std::string("\n\n\n"), std::string(":::\n:\n: :"), std::string("processor"),
        std::string("\0\0\xff\xfe garbage\n", 13), std::string(100000, 'x'),
        std::string("flags\n\tavx2\n")}) {
    const aiscore::v1::CpuInfo cpu = ParseCpuInfo(text);
    EXPECT_EQ(cpu.threads(), 0);
    EXPECT_EQ(cpu.cores(), 0);
    EXPECT_EQ(cpu.model(), "");
    EXPECT_THAT(Flags(cpu), IsEmpty());
  }
}

TEST(SysinfoTest, ParsersSurviveTruncatedAndRandomText) {
  const std::string xeon = TwoSocketXeon();
  for (size_t keep = 0; keep <= xeon.size(); keep += 7) {
    const aiscore::v1::CpuInfo cpu = ParseCpuInfo(std::string_view(xeon).substr(0, keep));
    EXPECT_LE(cpu.threads(), 8);
    EXPECT_LE(cpu.cores(), cpu.threads());
  }
  // Random text made of the pieces the parsers look for.
  const std::vector<std::string> pieces = {"processor",
                                           "core id",
                                           "physical id",
                                           "model name",
                                           "flags",
                                           "Features",
                                           "CPU part",
                                           "CPU implementer",
                                           "MemTotal",
                                           "PRETTY_NAME",
                                           "NAME",
                                           "=",
                                           ":",
                                           "\"",
                                           "'",
                                           "\\",
                                           "\n",
                                           "\t",
                                           " ",
                                           "kB",
                                           "0x41",
                                           "avx2",
                                           "-1",
                                           "99999999999999999999999",
                                           std::string("\0", 1)};
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    std::string text;
    const int n = rng() % 64;
    for (int i = 0; i < n; ++i) text += pieces[rng() % pieces.size()];
    const aiscore::v1::CpuInfo cpu = ParseCpuInfo(text);
    EXPECT_GE(cpu.cores(), 0);
    EXPECT_GE(ParseMemTotal(text), 0);
    ParseOsRelease(text);
  }
}

TEST(SysinfoTest, ParseMemTotalReadsKibibytes) {
  EXPECT_EQ(ParseMemTotal("MemTotal:       16318480 kB\nMemFree:         1234 kB\n"),
            int64_t{16318480} * 1024);
  EXPECT_EQ(ParseMemTotal("MemFree: 1 kB\nMemTotal: 2 kB"), 2048);
  EXPECT_EQ(ParseMemTotal("MemTotal: 3"), 3072);
}

TEST(SysinfoTest, ParseMemTotalIsZeroWhenMissingOrMalformed) {
  EXPECT_EQ(ParseMemTotal(""), 0);
  EXPECT_EQ(ParseMemTotal("MemFree: 1 kB\n"), 0);
  EXPECT_EQ(ParseMemTotal("MemTotalX: 5 kB\n"), 0);
  EXPECT_EQ(ParseMemTotal("MemTotal: lots kB\n"), 0);
  EXPECT_EQ(ParseMemTotal("MemTotal: 12x kB\n"), 0);
  EXPECT_EQ(ParseMemTotal("MemTotal: -5 kB\n"), 0);
  EXPECT_EQ(ParseMemTotal("MemTotal: 5 MB\n"), 0);
  EXPECT_EQ(ParseMemTotal("MemTotal:\n"), 0);
  EXPECT_EQ(ParseMemTotal("MemTotal: 99999999999999999999 kB\n"), 0);  // overflows int64
  EXPECT_EQ(ParseMemTotal("MemTotal: 9007199254740993 kB\n"), 0);      // overflows as bytes
}

TEST(SysinfoTest, ParseOsReleasePrefersPrettyName) {
  EXPECT_EQ(ParseOsRelease("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
                           "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"
                           "VERSION=\"12 (bookworm)\"\nID=debian\n"),
            "Debian GNU/Linux 12 (bookworm)");
  EXPECT_EQ(ParseOsRelease("# comment\nNAME=Fedora\nPRETTY_NAME='Fedora Linux 40'\n"),
            "Fedora Linux 40");
  EXPECT_EQ(ParseOsRelease("PRETTY_NAME=\"Say \\\"hi\\\" \\$HOME\"\n"), "Say \"hi\" $HOME");
}

TEST(SysinfoTest, ParseOsReleaseFallsBackToNameAndVersion) {
  EXPECT_EQ(ParseOsRelease("NAME=\"Alpine Linux\"\nVERSION=3.19\n"), "Alpine Linux 3.19");
  EXPECT_EQ(ParseOsRelease("NAME=Arch\n"), "Arch");
  EXPECT_EQ(ParseOsRelease("PRETTY_NAME=\n NAME = \"Spaced\" \n"), "Spaced");
  EXPECT_EQ(ParseOsRelease(""), "");
  EXPECT_EQ(ParseOsRelease("garbage\n=\n\"\n"), "");
}

TEST(SysinfoTest, ProbeHardwareMatchesThisMachine) {
  const aiscore::v1::Hardware hw = ProbeHardware(nullptr);
  const aiscore::v1::CpuInfo& cpu = hw.cpu();
  EXPECT_EQ(cpu.threads(), sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_GE(cpu.cores(), 1);
  EXPECT_LE(cpu.cores(), cpu.threads());
  // MemTotal and sysinfo's totalram are the same figure.
  EXPECT_EQ(cpu.memory_bytes(), int64_t{sysconf(_SC_PHYS_PAGES)} * sysconf(_SC_PAGESIZE));
  EXPECT_EQ(cpu.memory_bytes(), ParseMemTotal(ReadFile("/proc/meminfo")));

  // The first "model name" of /proc/cpuinfo, read here independently.
  const std::string proc_cpuinfo = ReadFile("/proc/cpuinfo");
  std::smatch model;
  if (std::regex_search(proc_cpuinfo, model, std::regex("model name\\s*: (.*?)\\s*\n"))) {
    EXPECT_EQ(cpu.model(), model[1].str());
  }
#if defined(__x86_64__)
  __builtin_cpu_init();
  auto has = [&](const std::string& flag) {
    return std::find(cpu.isa_flags().begin(), cpu.isa_flags().end(), flag) != cpu.isa_flags().end();
  };
  EXPECT_EQ(has("sse4_2"), __builtin_cpu_supports("sse4.2") != 0);
  EXPECT_EQ(has("avx"), __builtin_cpu_supports("avx") != 0);
  EXPECT_EQ(has("avx2"), __builtin_cpu_supports("avx2") != 0);
  EXPECT_EQ(has("fma"), __builtin_cpu_supports("fma") != 0);
  EXPECT_EQ(has("avx512f"), __builtin_cpu_supports("avx512f") != 0);
  EXPECT_EQ(has("avx512bw"), __builtin_cpu_supports("avx512bw") != 0);
  EXPECT_EQ(has("avx512vl"), __builtin_cpu_supports("avx512vl") != 0);
#endif

  struct utsname uts;
  ASSERT_EQ(uname(&uts), 0);
  EXPECT_EQ(hw.os().kernel(), uts.release);
  const std::string os_release = ReadFile("/etc/os-release");
  if (!os_release.empty()) {
    EXPECT_EQ(hw.os().name(), ParseOsRelease(os_release));
    EXPECT_FALSE(hw.os().name().empty());
  }
  EXPECT_EQ(hw.gpus_size(), 0);  // no Nvml given
}

TEST(SysinfoTest, ProbeHardwareListsTheGpusNvmlSees) {
  std::unique_ptr<Nvml> nvml = Nvml::Load();
  const aiscore::v1::Hardware hw = ProbeHardware();
  if (nvml == nullptr) {
    EXPECT_EQ(hw.gpus_size(), 0);
    return;
  }
  ASSERT_EQ(hw.gpus_size(), nvml->DeviceCount());
  for (const aiscore::v1::GpuInfo& gpu : hw.gpus()) {
    EXPECT_FALSE(gpu.name().empty());
    EXPECT_GT(gpu.memory_bytes(), 0);
    EXPECT_EQ(gpu.multiprocessors(), 0);  // the CUDA backend's to fill
  }
}

TEST(SysinfoTest, ProbeHardwareReadsGpusThroughNvml) {
  // The fake libnvidia-ml.so.1 (fake_nvml.cc), found by SONAME once loaded.
  void* fake = dlopen(AISCORE_FAKE_NVML, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(fake, nullptr) << dlerror();
  void* by_name = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_NOLOAD);
  if (by_name != nullptr) dlclose(by_name);
  if (by_name != fake) {
    dlclose(fake);
    GTEST_SKIP() << "a real libnvidia-ml.so.1 is loaded in this process";
  }
  {
    std::unique_ptr<Nvml> nvml = Nvml::Load();
    ASSERT_NE(nvml, nullptr);
    const aiscore::v1::Hardware hw = ProbeHardware(nvml.get());
    ASSERT_EQ(hw.gpus_size(), 2);
    EXPECT_EQ(hw.gpus(0).name(), "NVIDIA H100 80GB HBM3 (fake)");
    EXPECT_EQ(hw.gpus(0).compute_capability(), "9.0");
    EXPECT_EQ(hw.gpus(0).cuda_version(), "12.4");
    EXPECT_EQ(hw.gpus(1).name(), "Tesla P4 (fake)");
    EXPECT_EQ(hw.gpus(1).pcie_generation(), 0);
    EXPECT_EQ(hw.cpu().threads(), sysconf(_SC_NPROCESSORS_ONLN));
    EXPECT_EQ(ProbeHardware().gpus_size(), 2);  // loads NVML itself
  }
  dlclose(fake);
}

TEST(SysinfoTest, ProbeSoftwareDescribesThisBuild) {
  const aiscore::v1::SoftwareBuild sw = ProbeSoftware();
  EXPECT_EQ(sw.version(), AISCORE_EXPECTED_VERSION);
  EXPECT_EQ(sw.git_commit(), AISCORE_EXPECTED_GIT_COMMIT);
  EXPECT_TRUE(std::regex_match(sw.git_commit(), std::regex("[0-9a-f]{12}|unknown")))
      << sw.git_commit();
  EXPECT_EQ(sw.build_type(), AISCORE_EXPECTED_BUILD_TYPE);
  EXPECT_EQ(sw.cuda_runtime(), "");
  // This test is built by the same compiler as the library.
#if defined(__clang__)
  EXPECT_EQ(sw.compiler(), absl::StrCat("Clang ", __clang_major__, ".", __clang_minor__, ".",
                                        __clang_patchlevel__));
#else
  EXPECT_EQ(sw.compiler(),
            absl::StrCat("GCC ", __GNUC__, ".", __GNUC_MINOR__, ".", __GNUC_PATCHLEVEL__));
  EXPECT_EQ(std::string(__VERSION__).rfind(sw.compiler().substr(4), 0), 0u) << __VERSION__;
#endif
  EXPECT_EQ(CompilerName(), sw.compiler());
}

}  // namespace
}  // namespace aiscore
