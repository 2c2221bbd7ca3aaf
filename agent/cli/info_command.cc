// `aiscore info`: what this machine and this build are, as a result records
// them (Hardware and SoftwareBuild of result.proto), plus the backends built.
// A table on stdout by default; `--json` prints one JSON object
// {"hardware": ..., "software": ..., "backends": [...]} whose objects use the
// protobuf JSON mapping (int64 fields are strings) with result.proto's field
// names, in result.proto's order; unknown fields appear as 0 or "".
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/bench/nvml.h"
#include "agent/bench/sysinfo.h"
#include "agent/cli/commands.h"
#include "agent/engine/backend_registry.h"
#include "aiscore/v1/result.pb.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace aiscore {
namespace {

struct InfoOptions {
  bool json = false;
};

void PrintLine(const std::string& label, const std::string& value) {
  std::printf("%-22s %s\n", label.c_str(), value.empty() ? "unknown" : value.c_str());
}

std::string GiB(int64_t bytes) {
  if (bytes <= 0) return "";
  return absl::StrFormat("%.1f GiB", bytes / 1073741824.0);
}

std::string Known(int64_t value, const char* unit) {
  return value > 0 ? absl::StrCat(value, unit) : std::string();
}

void PrintGpu(int index, const aiscore::v1::GpuInfo& gpu) {
  PrintLine(absl::StrCat("GPU ", index), gpu.name());
  PrintLine("  memory", GiB(gpu.memory_bytes()));
  PrintLine("  compute capability", gpu.compute_capability());
  PrintLine("  max SM clock", Known(gpu.max_sm_clock_mhz(), " MHz"));
  PrintLine("  max memory clock", Known(gpu.max_memory_clock_mhz(), " MHz"));
  PrintLine("  power limit",
            gpu.power_limit_watts() > 0 ? absl::StrFormat("%.0f W", gpu.power_limit_watts()) : "");
  PrintLine("  PCIe link", gpu.pcie_generation() > 0
                               ? absl::StrCat("gen ", gpu.pcie_generation(), " x", gpu.pcie_width())
                               : "");
  PrintLine("  driver", gpu.driver_version());
  PrintLine("  CUDA (driver)", gpu.cuda_version());
  PrintLine("  UUID", gpu.uuid());
}

// `gpus_why` says why there are no GPUs when NVML could not be loaded.
void PrintTable(const aiscore::v1::Hardware& hardware, const aiscore::v1::SoftwareBuild& software,
                int nvml_devices, const absl::Status& gpus_why) {
  const aiscore::v1::CpuInfo& cpu = hardware.cpu();
  PrintLine("CPU", cpu.model());
  PrintLine("cores", absl::StrCat(cpu.cores(), " physical, ", cpu.threads(), " logical"));
  PrintLine("ISA extensions",
            cpu.isa_flags().empty() ? "none of interest" : absl::StrJoin(cpu.isa_flags(), " "));
  PrintLine("RAM", GiB(cpu.memory_bytes()));
  PrintLine("OS", hardware.os().name());
  PrintLine("kernel", hardware.os().kernel());
  for (int i = 0; i < hardware.gpus_size(); ++i) PrintGpu(i, hardware.gpus(i));
  if (!gpus_why.ok()) {
    PrintLine("GPUs", absl::StrCat("none (", gpus_why.message(), ")"));
  } else if (nvml_devices == 0) {
    PrintLine("GPUs", "none (NVML sees no GPU)");
  } else if (hardware.gpus_size() < nvml_devices) {
    PrintLine("GPUs", absl::StrCat(nvml_devices - hardware.gpus_size(), " of ", nvml_devices,
                                   " could not be read through NVML"));
  }
  PrintLine("aiscore", absl::StrCat(software.version(), " (commit ", software.git_commit(), ")"));
  PrintLine("compiler", software.compiler());
  PrintLine("build type", software.build_type());
  PrintLine("backends", absl::StrJoin(BackendNames(), " "));
}

absl::StatusOr<nlohmann::ordered_json> ToJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;  // unknown (0, empty) fields are shown too
  options.preserve_proto_field_names = true;     // result.proto's names: memory_bytes
  std::string text;
  if (auto status = google::protobuf::util::MessageToJsonString(message, &text, options);
      !status.ok()) {
    return absl::InternalError(
        absl::StrCat("cannot write ", message.GetTypeName(), " as JSON: ", status.ToString()));
  }
  return nlohmann::ordered_json::parse(text);
}

int RunInfo(const InfoOptions& o) {
  absl::Status nvml_why;
  std::unique_ptr<Nvml> nvml = Nvml::Load(&nvml_why);
  const aiscore::v1::Hardware hardware = ProbeHardware(nvml.get());
  const aiscore::v1::SoftwareBuild software = ProbeSoftware();
  if (!o.json) {
    PrintTable(hardware, software, nvml != nullptr ? nvml->DeviceCount() : 0, nvml_why);
    return kExitOk;
  }
  absl::StatusOr<nlohmann::ordered_json> hardware_json = ToJson(hardware);
  if (!hardware_json.ok()) return ReportError(hardware_json.status());
  absl::StatusOr<nlohmann::ordered_json> software_json = ToJson(software);
  if (!software_json.ok()) return ReportError(software_json.status());
  nlohmann::ordered_json out;
  out["hardware"] = *std::move(hardware_json);
  out["software"] = *std::move(software_json);
  out["backends"] = BackendNames();
  std::printf("%s\n", out.dump(2).c_str());
  return kExitOk;
}

}  // namespace

void AddInfoCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<InfoOptions>();
  CLI::App* cmd = app.add_subcommand(
      "info",
      "Show this machine's CPU, memory, GPUs and OS, and this build, as results record them");
  cmd->add_flag("--json", o->json, "Print JSON: {\"hardware\", \"software\", \"backends\"}");
  cmd->callback([o, &run] { run = [o] { return RunInfo(*o); }; });
}

}  // namespace aiscore
