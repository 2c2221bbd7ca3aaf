// NVML through dlopen/dlsym, and the power sampler. The declarations below
// restate the parts of NVIDIA's nvml.h used here (same names, types and
// values), so that the build needs neither the header nor the library.
#include "agent/bench/nvml.h"

#include <dlfcn.h>

#include <cstring>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"

namespace aiscore {
namespace {

// ---- From nvml.h (NVML API reference, "Device Queries", "System Queries",
// "Initialization and Cleanup", "Error reporting").
using nvmlReturn_t = int;                    // enum nvmlReturn_enum
using nvmlDevice_t = struct nvmlDevice_st*;  // opaque device handle
using nvmlClockType_t = int;                 // enum nvmlClockType_enum
struct nvmlMemory_t {                        // nvmlMemory_st, filled by nvmlDeviceGetMemoryInfo
  unsigned long long total;                  // bytes
  unsigned long long free;                   // bytes
  unsigned long long used;                   // bytes
};

constexpr nvmlReturn_t NVML_SUCCESS = 0;
constexpr nvmlReturn_t NVML_ERROR_INVALID_ARGUMENT = 2;
constexpr nvmlReturn_t NVML_ERROR_NOT_SUPPORTED = 3;
constexpr nvmlReturn_t NVML_ERROR_NO_PERMISSION = 4;
constexpr nvmlReturn_t NVML_ERROR_NOT_FOUND = 6;
constexpr nvmlReturn_t NVML_ERROR_DRIVER_NOT_LOADED = 9;
constexpr nvmlReturn_t NVML_ERROR_TIMEOUT = 10;
constexpr nvmlReturn_t NVML_ERROR_GPU_IS_LOST = 15;
constexpr nvmlReturn_t NVML_ERROR_MEMORY = 20;
constexpr nvmlReturn_t NVML_ERROR_GPU_NOT_FOUND = 28;

constexpr nvmlClockType_t NVML_CLOCK_SM = 1;
constexpr nvmlClockType_t NVML_CLOCK_MEM = 2;

constexpr unsigned int NVML_DEVICE_NAME_V2_BUFFER_SIZE = 96;
constexpr unsigned int NVML_DEVICE_UUID_V2_BUFFER_SIZE = 96;
constexpr unsigned int NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE = 80;

constexpr char kLibraryName[] = "libnvidia-ml.so.1";

}  // namespace

// The entry points, named as NVML names them so that errors can quote them.
// The first five are required; a missing optional one reads as Unimplemented.
struct Nvml::Api {
  nvmlReturn_t (*nvmlInit_v2)() = nullptr;
  nvmlReturn_t (*nvmlShutdown)() = nullptr;
  const char* (*nvmlErrorString)(nvmlReturn_t) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetCount_v2)(unsigned int*) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetHandleByIndex_v2)(unsigned int, nvmlDevice_t*) = nullptr;

  nvmlReturn_t (*nvmlDeviceGetName)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetMemoryInfo)(nvmlDevice_t, nvmlMemory_t*) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetCudaComputeCapability)(nvmlDevice_t, int*, int*) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetMaxClockInfo)(nvmlDevice_t, nvmlClockType_t, unsigned int*) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetEnforcedPowerLimit)(nvmlDevice_t, unsigned int*) = nullptr;  // mW
  nvmlReturn_t (*nvmlDeviceGetCurrPcieLinkGeneration)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetCurrPcieLinkWidth)(nvmlDevice_t, unsigned int*) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetUUID)(nvmlDevice_t, char*, unsigned int) = nullptr;
  nvmlReturn_t (*nvmlDeviceGetPowerUsage)(nvmlDevice_t, unsigned int*) = nullptr;  // mW
  nvmlReturn_t (*nvmlDeviceGetTotalEnergyConsumption)(nvmlDevice_t,
                                                      unsigned long long*) = nullptr;  // mJ
  nvmlReturn_t (*nvmlSystemGetDriverVersion)(char*, unsigned int) = nullptr;
  nvmlReturn_t (*nvmlSystemGetCudaDriverVersion_v2)(int*) = nullptr;  // 12040 = 12.4
};

namespace {

absl::StatusCode CodeFor(nvmlReturn_t rc) {
  switch (rc) {
    case NVML_ERROR_INVALID_ARGUMENT:
      return absl::StatusCode::kInvalidArgument;
    case NVML_ERROR_NOT_SUPPORTED:
      return absl::StatusCode::kUnimplemented;
    case NVML_ERROR_NO_PERMISSION:
      return absl::StatusCode::kPermissionDenied;
    case NVML_ERROR_NOT_FOUND:
    case NVML_ERROR_GPU_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case NVML_ERROR_DRIVER_NOT_LOADED:
    case NVML_ERROR_GPU_IS_LOST:
      return absl::StatusCode::kUnavailable;
    case NVML_ERROR_TIMEOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case NVML_ERROR_MEMORY:
      return absl::StatusCode::kResourceExhausted;
    default:
      return absl::StatusCode::kInternal;
  }
}

// "nvmlDeviceGetPowerUsage: Not Supported" as a Status; OK for NVML_SUCCESS.
absl::Status NvmlStatus(const Nvml::Api& api, const char* function, nvmlReturn_t rc) {
  if (rc == NVML_SUCCESS) return absl::OkStatus();
  const char* text = api.nvmlErrorString(rc);
  return absl::Status(CodeFor(rc), absl::StrCat(function, ": ", text != nullptr ? text : "",
                                                " (NVML error ", rc, ")"));
}

// Calls `fn` when the library has it; an absent function is Unimplemented.
template <typename Fn, typename... Args>
absl::Status CallNvml(const Nvml::Api& api, Fn* fn, const char* name, Args... args) {
  if (fn == nullptr) {
    return absl::UnimplementedError(absl::StrCat(name, ": not in this driver's ", kLibraryName));
  }
  return NvmlStatus(api, name, fn(args...));
}

// NVML_CALL(api, nvmlDeviceGetName, device, buffer, size): the function's
// name goes into any error.
#define NVML_CALL(api, function, ...) CallNvml(api, (api).function, #function, __VA_ARGS__)

// A field a GPU may lack or keep to itself: leave it unset rather than fail.
bool Unavailable(const absl::Status& status) {
  return absl::IsUnimplemented(status) || absl::IsPermissionDenied(status);
}

absl::StatusOr<nvmlDevice_t> Device(const Nvml::Api& api, int index) {
  if (index < 0) return absl::InvalidArgumentError(absl::StrCat("GPU index ", index, " < 0"));
  nvmlDevice_t device = nullptr;
  if (absl::Status s =
          NVML_CALL(api, nvmlDeviceGetHandleByIndex_v2, static_cast<unsigned int>(index), &device);
      !s.ok()) {
    return s;
  }
  return device;
}

}  // namespace

std::unique_ptr<Nvml> Nvml::Load(absl::Status* why_not) {
  absl::Status ignored;
  absl::Status& why = why_not != nullptr ? *why_not : ignored;
  why = absl::OkStatus();
  void* library = dlopen(kLibraryName, RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) {
    const char* error = dlerror();
    why = absl::NotFoundError(
        absl::StrCat("no NVIDIA driver library: ",
                     error != nullptr ? error : absl::StrCat(kLibraryName, ": dlopen failed")));
    return nullptr;
  }
  auto api = std::make_unique<Api>();
#define NVML_RESOLVE(function) \
  api->function = reinterpret_cast<decltype(api->function)>(dlsym(library, #function))
  NVML_RESOLVE(nvmlInit_v2);
  NVML_RESOLVE(nvmlShutdown);
  NVML_RESOLVE(nvmlErrorString);
  NVML_RESOLVE(nvmlDeviceGetCount_v2);
  NVML_RESOLVE(nvmlDeviceGetHandleByIndex_v2);
  NVML_RESOLVE(nvmlDeviceGetName);
  NVML_RESOLVE(nvmlDeviceGetMemoryInfo);
  NVML_RESOLVE(nvmlDeviceGetCudaComputeCapability);
  NVML_RESOLVE(nvmlDeviceGetMaxClockInfo);
  NVML_RESOLVE(nvmlDeviceGetEnforcedPowerLimit);
  NVML_RESOLVE(nvmlDeviceGetCurrPcieLinkGeneration);
  NVML_RESOLVE(nvmlDeviceGetCurrPcieLinkWidth);
  NVML_RESOLVE(nvmlDeviceGetUUID);
  NVML_RESOLVE(nvmlDeviceGetPowerUsage);
  NVML_RESOLVE(nvmlDeviceGetTotalEnergyConsumption);
  NVML_RESOLVE(nvmlSystemGetDriverVersion);
  NVML_RESOLVE(nvmlSystemGetCudaDriverVersion_v2);
#undef NVML_RESOLVE
  if (api->nvmlInit_v2 == nullptr || api->nvmlShutdown == nullptr ||
      api->nvmlErrorString == nullptr || api->nvmlDeviceGetCount_v2 == nullptr ||
      api->nvmlDeviceGetHandleByIndex_v2 == nullptr) {
    why = absl::UnimplementedError(
        absl::StrCat(kLibraryName, " lacks nvmlInit_v2 or another basic NVML function"));
    dlclose(library);
    return nullptr;
  }
  if (absl::Status s = NvmlStatus(*api, "nvmlInit_v2", api->nvmlInit_v2()); !s.ok()) {
    why = std::move(s);
    dlclose(library);
    return nullptr;
  }
  return std::unique_ptr<Nvml>(new Nvml(library, std::move(api)));
}

Nvml::Nvml(void* library, std::unique_ptr<const Api> api)
    : library_(library), api_(std::move(api)) {}

Nvml::~Nvml() {
  api_->nvmlShutdown();
  dlclose(library_);
}

int Nvml::DeviceCount() const {
  unsigned int count = 0;
  if (!NVML_CALL(*api_, nvmlDeviceGetCount_v2, &count).ok()) return 0;
  return static_cast<int>(count);
}

absl::StatusOr<aiscore::v1::GpuInfo> Nvml::Info(int index) const {
  const Api& api = *api_;
  absl::StatusOr<nvmlDevice_t> device = Device(api, index);
  if (!device.ok()) return device.status();
  aiscore::v1::GpuInfo info;

  char name[NVML_DEVICE_NAME_V2_BUFFER_SIZE] = {};
  if (absl::Status s = NVML_CALL(api, nvmlDeviceGetName, *device, name, sizeof(name)); !s.ok()) {
    return s;
  }
  info.set_name(std::string(name, strnlen(name, sizeof(name))));

  nvmlMemory_t memory = {};
  if (absl::Status s = NVML_CALL(api, nvmlDeviceGetMemoryInfo, *device, &memory); !s.ok()) {
    return s;
  }
  info.set_memory_bytes(static_cast<int64_t>(memory.total));

  // The other fields: unset when the GPU does not report them.
  auto optional = [](absl::Status s) { return s.ok() || Unavailable(s) ? absl::OkStatus() : s; };
  int major = 0, minor = 0;
  absl::Status s = NVML_CALL(api, nvmlDeviceGetCudaComputeCapability, *device, &major, &minor);
  if (s.ok()) info.set_compute_capability(absl::StrCat(major, ".", minor));
  if (s = optional(s); !s.ok()) return s;

  unsigned int value = 0;
  s = NVML_CALL(api, nvmlDeviceGetMaxClockInfo, *device, NVML_CLOCK_SM, &value);
  if (s.ok()) info.set_max_sm_clock_mhz(static_cast<int32_t>(value));
  if (s = optional(s); !s.ok()) return s;

  s = NVML_CALL(api, nvmlDeviceGetMaxClockInfo, *device, NVML_CLOCK_MEM, &value);
  if (s.ok()) info.set_max_memory_clock_mhz(static_cast<int32_t>(value));
  if (s = optional(s); !s.ok()) return s;

  s = NVML_CALL(api, nvmlDeviceGetEnforcedPowerLimit, *device, &value);
  if (s.ok()) info.set_power_limit_watts(value / 1000.0);
  if (s = optional(s); !s.ok()) return s;

  s = NVML_CALL(api, nvmlDeviceGetCurrPcieLinkGeneration, *device, &value);
  if (s.ok()) info.set_pcie_generation(static_cast<int32_t>(value));
  if (s = optional(s); !s.ok()) return s;

  s = NVML_CALL(api, nvmlDeviceGetCurrPcieLinkWidth, *device, &value);
  if (s.ok()) info.set_pcie_width(static_cast<int32_t>(value));
  if (s = optional(s); !s.ok()) return s;

  char uuid[NVML_DEVICE_UUID_V2_BUFFER_SIZE] = {};
  s = NVML_CALL(api, nvmlDeviceGetUUID, *device, uuid, sizeof(uuid));
  if (s.ok()) info.set_uuid(std::string(uuid, strnlen(uuid, sizeof(uuid))));
  if (s = optional(s); !s.ok()) return s;

  char driver[NVML_SYSTEM_DRIVER_VERSION_BUFFER_SIZE] = {};
  s = NVML_CALL(api, nvmlSystemGetDriverVersion, driver, sizeof(driver));
  if (s.ok()) info.set_driver_version(std::string(driver, strnlen(driver, sizeof(driver))));
  if (s = optional(s); !s.ok()) return s;

  int cuda = 0;  // 1000 * major + 10 * minor
  s = NVML_CALL(api, nvmlSystemGetCudaDriverVersion_v2, &cuda);
  if (s.ok() && cuda > 0) info.set_cuda_version(absl::StrCat(cuda / 1000, ".", cuda % 1000 / 10));
  if (s = optional(s); !s.ok()) return s;
  return info;
}

absl::StatusOr<double> Nvml::PowerWatts(int index) const {
  absl::StatusOr<nvmlDevice_t> device = Device(*api_, index);
  if (!device.ok()) return device.status();
  unsigned int milliwatts = 0;
  if (absl::Status s = NVML_CALL(*api_, nvmlDeviceGetPowerUsage, *device, &milliwatts); !s.ok()) {
    return s;
  }
  return milliwatts / 1000.0;
}

absl::StatusOr<uint64_t> Nvml::TotalEnergyMillijoules(int index) const {
  absl::StatusOr<nvmlDevice_t> device = Device(*api_, index);
  if (!device.ok()) return device.status();
  unsigned long long millijoules = 0;
  if (absl::Status s = NVML_CALL(*api_, nvmlDeviceGetTotalEnergyConsumption, *device, &millijoules);
      !s.ok()) {
    return s;
  }
  return static_cast<uint64_t>(millijoules);
}

#undef NVML_CALL

// ---- PowerSampler

PowerSampler::PowerSampler(std::chrono::milliseconds period)
    : period_(period), start_millijoules_(absl::UnknownError("not started")) {}

PowerSampler::~PowerSampler() {
  if (IsRunning()) Stop().IgnoreError();
}

bool PowerSampler::IsRunning() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return running_;
}

absl::Status PowerSampler::Start(const Nvml& nvml, int index) {
  PowerSource source;
  source.watts = [&nvml, index] { return nvml.PowerWatts(index); };
  source.millijoules = [&nvml, index] { return nvml.TotalEnergyMillijoules(index); };
  return Start(std::move(source));
}

absl::Status PowerSampler::Start(PowerSource source) {
  std::lock_guard<std::mutex> start_stop(start_stop_mutex_);
  if (IsRunning()) return absl::FailedPreconditionError("the power sampler is already running");
  if (!source.watts) return absl::InvalidArgumentError("a power source needs a watts reading");
  start_millijoules_ =
      source.millijoules ? source.millijoules() : absl::UnimplementedError("no energy counter");
  start_time_ = std::chrono::steady_clock::now();
  absl::StatusOr<double> first = source.watts();
  if (!first.ok()) return first.status();
  source_ = std::move(source);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    samples_.clear();
    samples_.push_back({std::chrono::steady_clock::now(), *first});
    stop_requested_ = false;
    running_ = true;
  }
  thread_ = std::thread(&PowerSampler::Loop, this);
  return absl::OkStatus();
}

void PowerSampler::Loop() {
  std::unique_lock<std::mutex> lock(mutex_);
  auto next = std::chrono::steady_clock::now() + period_;
  while (!wake_.wait_until(lock, next, [this] { return stop_requested_; })) {
    lock.unlock();
    // source_ does not change while the thread runs; a failed reading is skipped.
    absl::StatusOr<double> watts = source_.watts();
    const auto now = std::chrono::steady_clock::now();
    lock.lock();
    if (watts.ok()) samples_.push_back({now, *watts});
    next += period_;
    if (next < now) next = now + period_;  // fell behind (a slow reading): do not burst
  }
}

absl::StatusOr<PowerSummary> PowerSampler::Stop() {
  std::lock_guard<std::mutex> start_stop(start_stop_mutex_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!running_) return absl::FailedPreconditionError("the power sampler is not running");
    stop_requested_ = true;
  }
  wake_.notify_all();
  thread_.join();

  absl::StatusOr<double> last = source_.watts();
  const auto stop_time = std::chrono::steady_clock::now();
  absl::StatusOr<uint64_t> stop_millijoules =
      source_.millijoules ? source_.millijoules() : absl::UnimplementedError("no energy counter");

  std::vector<Sample> samples;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (last.ok()) samples_.push_back({stop_time, *last});
    samples.swap(samples_);
    running_ = false;
  }
  source_ = PowerSource();

  PowerSummary summary;
  summary.samples = static_cast<int>(samples.size());  // >= 1: Start took one
  summary.seconds = std::chrono::duration<double>(stop_time - start_time_).count();
  double sum = 0;
  for (const Sample& s : samples) sum += s.watts;
  summary.mean_watts = sum / samples.size();
  if (start_millijoules_.ok() && stop_millijoules.ok() &&
      *stop_millijoules >= *start_millijoules_) {
    summary.joules = (*stop_millijoules - *start_millijoules_) / 1000.0;
    summary.from_counter = true;
  } else if (samples.size() == 1) {
    summary.joules = samples[0].watts * summary.seconds;
  } else {
    for (size_t i = 1; i < samples.size(); ++i) {
      const double dt =
          std::chrono::duration<double>(samples[i].time - samples[i - 1].time).count();
      summary.joules += 0.5 * (samples[i].watts + samples[i - 1].watts) * dt;
    }
  }
  return summary;
}

}  // namespace aiscore
