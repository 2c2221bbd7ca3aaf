// A stand-in for NVIDIA's libnvidia-ml.so.1, built as a shared library with
// that SONAME, so that agent/bench/nvml.cc's dlopen path, device queries and
// error handling are tested on machines without a GPU. A test loads it by
// path (dlopen, or LD_PRELOAD for a child process); Nvml::Load's
// dlopen("libnvidia-ml.so.1") then finds it by SONAME. It lives in a build
// directory of its own, so nothing finds it by accident.
//
// It reports two GPUs with fixed values:
//   0: "NVIDIA H100 80GB HBM3 (fake)": every query supported; power 123.456 W;
//      an energy counter that grows at exactly 100 W of CLOCK_MONOTONIC time.
//   1: "Tesla P4 (fake)": no PCIe link, no energy counter (Not Supported),
//      power limit not readable (Insufficient Permissions); power 40 W.
// Index 2 and up are NVML_ERROR_INVALID_ARGUMENT, as the real library does.
// Function signatures and values follow NVIDIA's nvml.h.
#include <time.h>

#include <cstring>

namespace {

constexpr int kSuccess = 0;           // NVML_SUCCESS
constexpr int kInvalidArgument = 2;   // NVML_ERROR_INVALID_ARGUMENT
constexpr int kNotSupported = 3;      // NVML_ERROR_NOT_SUPPORTED
constexpr int kNoPermission = 4;      // NVML_ERROR_NO_PERMISSION
constexpr int kUninitialized = 1;     // NVML_ERROR_UNINITIALIZED
constexpr int kInsufficientSize = 7;  // NVML_ERROR_INSUFFICIENT_SIZE
constexpr int kDriverNotLoaded = 9;   // NVML_ERROR_DRIVER_NOT_LOADED

struct FakeDevice {
  const char* name;
  unsigned long long memory_bytes;
  int cc_major, cc_minor;
  unsigned int max_sm_mhz, max_memory_mhz;
  int power_limit_result;
  unsigned int power_limit_mw;
  int pcie_result;
  unsigned int pcie_generation, pcie_width;
  const char* uuid;
  unsigned int power_mw;
  int energy_result;
};

FakeDevice devices[] = {
    {"NVIDIA H100 80GB HBM3 (fake)", 85520809984ull, 9, 0, 1980, 2619, kSuccess, 700000, kSuccess,
     5, 16, "GPU-00000000-1111-2222-3333-444444444444", 123456, kSuccess},
    {"Tesla P4 (fake)", 8042708992ull, 6, 1, 1531, 3003, kNoPermission, 0, kNotSupported, 0, 0,
     "GPU-55555555-6666-7777-8888-999999999999", 40000, kNotSupported},
};
constexpr unsigned int kDevices = sizeof(devices) / sizeof(devices[0]);

int init_result = kSuccess;  // what nvmlInit_v2 returns; set by tests
int live_inits = 0;          // nvmlInit_v2 successes minus nvmlShutdown calls

FakeDevice* Lookup(void* device) {
  for (FakeDevice& d : devices) {
    if (&d == device) return &d;
  }
  return nullptr;
}

int CopyString(const char* value, char* out, unsigned int length) {
  if (out == nullptr) return kInvalidArgument;
  if (std::strlen(value) + 1 > length) return kInsufficientSize;
  std::strcpy(out, value);
  return kSuccess;
}

}  // namespace

extern "C" {

// ---- Test controls (not NVML).
__attribute__((visibility("default"))) void aiscore_fake_nvml_set_init_result(int result) {
  init_result = result;
}
__attribute__((visibility("default"))) int aiscore_fake_nvml_live_inits() { return live_inits; }

// ---- NVML.
__attribute__((visibility("default"))) int nvmlInit_v2() {
  if (init_result != kSuccess) return init_result;
  ++live_inits;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlShutdown() {
  if (live_inits == 0) return kUninitialized;
  --live_inits;
  return kSuccess;
}

__attribute__((visibility("default"))) const char* nvmlErrorString(int result) {
  switch (result) {
    case kSuccess:
      return "Success";
    case kUninitialized:
      return "Uninitialized";
    case kInvalidArgument:
      return "Invalid Argument";
    case kNotSupported:
      return "Not Supported";
    case kNoPermission:
      return "Insufficient Permissions";
    case kInsufficientSize:
      return "Insufficient Size";
    case kDriverNotLoaded:
      return "Driver Not Loaded";
    default:
      return "Unknown Error";
  }
}

__attribute__((visibility("default"))) int nvmlDeviceGetCount_v2(unsigned int* count) {
  if (live_inits == 0) return kUninitialized;
  *count = kDevices;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetHandleByIndex_v2(unsigned int index,
                                                                         void** device) {
  if (live_inits == 0) return kUninitialized;
  if (index >= kDevices || device == nullptr) return kInvalidArgument;
  *device = &devices[index];
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetName(void* device, char* name,
                                                             unsigned int length) {
  FakeDevice* d = Lookup(device);
  return d == nullptr ? kInvalidArgument : CopyString(d->name, name, length);
}

__attribute__((visibility("default"))) int nvmlDeviceGetMemoryInfo(void* device,
                                                                   unsigned long long* memory) {
  FakeDevice* d = Lookup(device);
  if (d == nullptr) return kInvalidArgument;
  memory[0] = d->memory_bytes;      // total
  memory[1] = d->memory_bytes / 2;  // free
  memory[2] = d->memory_bytes / 2;  // used
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetCudaComputeCapability(void* device,
                                                                              int* major,
                                                                              int* minor) {
  FakeDevice* d = Lookup(device);
  if (d == nullptr) return kInvalidArgument;
  *major = d->cc_major;
  *minor = d->cc_minor;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetMaxClockInfo(void* device, int type,
                                                                     unsigned int* mhz) {
  FakeDevice* d = Lookup(device);
  if (d == nullptr) return kInvalidArgument;
  if (type == 1) {  // NVML_CLOCK_SM
    *mhz = d->max_sm_mhz;
  } else if (type == 2) {  // NVML_CLOCK_MEM
    *mhz = d->max_memory_mhz;
  } else {
    return kInvalidArgument;
  }
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetEnforcedPowerLimit(void* device,
                                                                           unsigned int* mw) {
  FakeDevice* d = Lookup(device);
  if (d == nullptr) return kInvalidArgument;
  if (d->power_limit_result != kSuccess) return d->power_limit_result;
  *mw = d->power_limit_mw;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetCurrPcieLinkGeneration(
    void* device, unsigned int* generation) {
  FakeDevice* d = Lookup(device);
  if (d == nullptr) return kInvalidArgument;
  if (d->pcie_result != kSuccess) return d->pcie_result;
  *generation = d->pcie_generation;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetCurrPcieLinkWidth(void* device,
                                                                          unsigned int* width) {
  FakeDevice* d = Lookup(device);
  if (d == nullptr) return kInvalidArgument;
  if (d->pcie_result != kSuccess) return d->pcie_result;
  *width = d->pcie_width;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetUUID(void* device, char* uuid,
                                                             unsigned int length) {
  FakeDevice* d = Lookup(device);
  return d == nullptr ? kInvalidArgument : CopyString(d->uuid, uuid, length);
}

__attribute__((visibility("default"))) int nvmlDeviceGetPowerUsage(void* device, unsigned int* mw) {
  FakeDevice* d = Lookup(device);
  if (d == nullptr) return kInvalidArgument;
  *mw = d->power_mw;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlDeviceGetTotalEnergyConsumption(
    void* device, unsigned long long* mj) {
  FakeDevice* d = Lookup(device);
  if (d == nullptr) return kInvalidArgument;
  if (d->energy_result != kSuccess) return d->energy_result;
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  // 100 W = 100 mJ per ms, since an arbitrary start.
  *mj = 5000000ull + static_cast<unsigned long long>(now.tv_sec) * 100000ull +
        static_cast<unsigned long long>(now.tv_nsec) / 10000ull;
  return kSuccess;
}

__attribute__((visibility("default"))) int nvmlSystemGetDriverVersion(char* version,
                                                                      unsigned int length) {
  return CopyString("550.54.15", version, length);
}

__attribute__((visibility("default"))) int nvmlSystemGetCudaDriverVersion_v2(int* version) {
  *version = 12040;
  return kSuccess;
}

}  // extern "C"
