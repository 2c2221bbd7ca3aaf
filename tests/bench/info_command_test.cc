// Runs the real `aiscore info` binary and checks what it prints against what
// this machine's /proc, sysconf and uname say, in the table and in --json;
// and with the fake libnvidia-ml.so.1 (fake_nvml.cc) preloaded, that every
// GPU field is printed.
#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include "nlohmann/json.hpp"
#include "tests/read_file_bytes.h"
#include "tests/shell_command.h"

namespace aiscore {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;

// Runs `aiscore <args>`; `redirect` is appended to the shell command line.
CommandResult RunAiscore(const std::string& args, const std::string& redirect) {
  return RunShellCommand(std::string(AISCORE_BINARY) + " " + args + " " + redirect);
}

// The first "model name" of /proc/cpuinfo; empty where there is none (aarch64).
std::string ProcCpuModel() {
  const std::string text = ReadFileBytes("/proc/cpuinfo");
  std::smatch m;
  if (!std::regex_search(text, m, std::regex("model name\\s*: (.*?)\\s*\n"))) return "";
  return m[1].str();
}

TEST(InfoCommandTest, PrintsTheMachineAndTheBuild) {
  const CommandResult r = RunAiscore("info", "2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string model = ProcCpuModel();
  if (!model.empty()) {
    EXPECT_THAT(r.output, HasSubstr(model));
  }
  struct utsname uts;
  ASSERT_EQ(uname(&uts), 0);
  EXPECT_THAT(r.output, HasSubstr(uts.release));
  EXPECT_THAT(r.output, HasSubstr(std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + " logical"));
  EXPECT_THAT(r.output, HasSubstr(AISCORE_EXPECTED_VERSION));
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\nbackends +[a-z ]*cpu"))) << r.output;
  EXPECT_TRUE(std::regex_search(r.output, std::regex("\n(GPU 0|GPUs) ")))
      << r.output;  // a GPU, or why there is none
}

TEST(InfoCommandTest, JsonHasTheHardwareAndTheBuild) {
  const CommandResult r = RunAiscore("info --json", "2>/dev/null");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  nlohmann::json j;
  ASSERT_NO_THROW(j = nlohmann::json::parse(r.output)) << r.output;
  const nlohmann::json& cpu = j.at("hardware").at("cpu");
  EXPECT_EQ(cpu.at("threads").get<long>(), sysconf(_SC_NPROCESSORS_ONLN));
  EXPECT_GE(cpu.at("cores").get<int>(), 1);
  // int64 fields are strings in protobuf's JSON mapping.
  EXPECT_EQ(cpu.at("memory_bytes").get<std::string>(),
            std::to_string(int64_t{sysconf(_SC_PHYS_PAGES)} * sysconf(_SC_PAGESIZE)));
  EXPECT_TRUE(cpu.at("isa_flags").is_array());
  const std::string model = ProcCpuModel();
  if (!model.empty()) {
    EXPECT_EQ(cpu.at("model").get<std::string>(), model);
  }
  struct utsname uts;
  ASSERT_EQ(uname(&uts), 0);
  EXPECT_EQ(j.at("hardware").at("os").at("kernel").get<std::string>(), uts.release);
  EXPECT_TRUE(j.at("hardware").at("gpus").is_array());

  const nlohmann::json& sw = j.at("software");
  EXPECT_EQ(sw.at("version").get<std::string>(), AISCORE_EXPECTED_VERSION);
  EXPECT_FALSE(sw.at("git_commit").get<std::string>().empty());
  EXPECT_FALSE(sw.at("compiler").get<std::string>().empty());
  EXPECT_THAT(j.at("backends").get<std::vector<std::string>>(), Contains("cpu"));
}

bool RealNvmlPresent() {
  void* library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) return false;
  dlclose(library);
  return true;
}

TEST(InfoCommandTest, SaysWhyThereIsNoGpu) {
  if (RealNvmlPresent()) GTEST_SKIP() << "libnvidia-ml.so.1 is present on this machine";
  const CommandResult r = RunAiscore("info", "2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_TRUE(std::regex_search(
      r.output, std::regex("\nGPUs +none \\(no NVIDIA driver library: .*libnvidia-ml\\.so\\.1")))
      << r.output;
  const CommandResult j = RunAiscore("info --json", "2>/dev/null");
  ASSERT_EQ(j.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(j.output).at("hardware").at("gpus").size(), 0u);
}

TEST(InfoCommandTest, PrintsEveryGpuField) {
  if (RealNvmlPresent()) GTEST_SKIP() << "a real libnvidia-ml.so.1 would be found first";
  const std::string preload = std::string("LD_PRELOAD=") + AISCORE_FAKE_NVML + " ";
  const CommandResult r = RunShellCommand(preload + AISCORE_BINARY + " info 2>&1");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string& out = r.output;
  for (const char* line :
       {"GPU 0 +NVIDIA H100 80GB HBM3 \\(fake\\)", "  memory +79.6 GiB",
        "  compute capability +9.0", "  max SM clock +1980 MHz", "  max memory clock +2619 MHz",
        "  power limit +700 W", "  PCIe link +gen 5 x16", "  driver +550.54.15",
        "  CUDA \\(driver\\) +12.4", "  UUID +GPU-00000000-1111-2222-3333-444444444444",
        "GPU 1 +Tesla P4 \\(fake\\)", "  power limit +unknown", "  PCIe link +unknown"}) {
    EXPECT_TRUE(std::regex_search(out, std::regex(std::string("\n") + line + "\n"))) << line;
  }
  EXPECT_EQ(out.find("\nGPUs "), std::string::npos) << out;

  const CommandResult j = RunShellCommand(preload + AISCORE_BINARY + " info --json 2>/dev/null");
  ASSERT_EQ(j.exit_code, 0);
  const nlohmann::json gpus = nlohmann::json::parse(j.output).at("hardware").at("gpus");
  ASSERT_EQ(gpus.size(), 2u);
  EXPECT_EQ(gpus[0].at("name").get<std::string>(), "NVIDIA H100 80GB HBM3 (fake)");
  EXPECT_EQ(gpus[0].at("memory_bytes").get<std::string>(), "85520809984");
  EXPECT_EQ(gpus[0].at("cuda_version").get<std::string>(), "12.4");
  EXPECT_EQ(gpus[0].at("pcie_width").get<int>(), 16);
  EXPECT_EQ(gpus[0].at("multiprocessors").get<int>(), 0);
  EXPECT_EQ(gpus[1].at("pcie_generation").get<int>(), 0);
}

TEST(InfoCommandTest, HelpAndBadOptions) {
  CommandResult r = RunAiscore("info --help", "2>&1");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_THAT(r.output, HasSubstr("--json"));
  r = RunAiscore("info --no-such-option", "2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
}

}  // namespace
}  // namespace aiscore
