// NVIDIA's management library (NVML), loaded at run time, and a sampler of a
// GPU's power draw built on it.
//
// Nvml opens libnvidia-ml.so.1 with dlopen: aiscore has no link-time
// dependency on the driver and builds and runs where there is none. A machine
// without the library (or whose driver does not start) simply has no Nvml:
// Load() returns null, which is not an error. An Nvml owns one
// nvmlInit_v2/nvmlShutdown pair and the library handle; NVML is thread-safe,
// and so are all of Nvml's methods. Each NVML failure becomes a Status whose
// message names the NVML function and carries nvmlErrorString's text.
//
// PowerSampler reads a GPU's power on a background thread while a benchmark
// runs, and gives the mean power and the energy used between Start and Stop.
#ifndef AISCORE_AGENT_BENCH_NVML_H_
#define AISCORE_AGENT_BENCH_NVML_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aiscore/v1/result.pb.h"

namespace aiscore {

class Nvml {
 public:
  // Opens libnvidia-ml.so.1 and initializes NVML. Null when the library is
  // absent, lacks NVML's basic functions, or nvmlInit_v2 fails (no driver
  // loaded, no permission); `why_not`, when given, then says which, and is
  // OK otherwise.
  static std::unique_ptr<Nvml> Load(absl::Status* why_not = nullptr);

  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;
  ~Nvml();  // nvmlShutdown, dlclose

  // GPUs NVML sees (nvmlDeviceGetCount_v2); 0 when it fails.
  int DeviceCount() const;

  // GPU `index`: name, memory, compute capability, maximum SM and memory
  // clocks, enforced power limit, driver version, the CUDA version the driver
  // supports, current PCIe generation and width, UUID. multiprocessors stays
  // 0 (NVML does not report it). Fails when the device, its name or its
  // memory cannot be read; any other field the GPU does not support or lets
  // no one read stays empty or 0.
  absl::StatusOr<aiscore::v1::GpuInfo> Info(int index) const;

  // Board power now, W (nvmlDeviceGetPowerUsage).
  absl::StatusOr<double> PowerWatts(int index) const;

  // Energy used since the driver was loaded, mJ
  // (nvmlDeviceGetTotalEnergyConsumption, Volta and later). Unimplemented
  // when the GPU or driver does not support it.
  absl::StatusOr<uint64_t> TotalEnergyMillijoules(int index) const;

  // The NVML entry points, resolved with dlsym; defined in nvml.cc only.
  struct Api;

 private:
  Nvml(void* library, std::unique_ptr<const Api> api);

  void* library_;                   // dlopen handle, owned
  std::unique_ptr<const Api> api_;  // entry points into library_
};

// What a PowerSampler reads. Nvml supplies both for one GPU; tests supply
// fakes.
struct PowerSource {
  // Power drawn now, W. Required.
  std::function<absl::StatusOr<double>()> watts;
  // A monotonic energy counter, mJ. Optional: when it is empty or fails, the
  // energy is the integral of the power samples instead.
  std::function<absl::StatusOr<uint64_t>()> millijoules;
};

// Mean power and energy between PowerSampler::Start and Stop.
struct PowerSummary {
  double mean_watts = 0;      // W, mean of the power samples
  double joules = 0;          // J used between Start and Stop
  double seconds = 0;         // s from Start to Stop
  int samples = 0;            // power readings taken (>= 1)
  bool from_counter = false;  // joules from the energy counter, not integrated samples
};

// Samples one GPU's power every `period` (20 ms by default) on a thread of
// its own between Start and Stop. Start and Stop may be called from any
// thread; a sampler can be started again after Stop. Destroying a running
// sampler stops and joins its thread. The Nvml passed to Start must outlive
// the sampling.
class PowerSampler {
 public:
  explicit PowerSampler(std::chrono::milliseconds period = std::chrono::milliseconds(20));
  PowerSampler(const PowerSampler&) = delete;
  PowerSampler& operator=(const PowerSampler&) = delete;
  ~PowerSampler();

  // Takes a first power reading and the energy counter now, then starts the
  // thread. FailedPrecondition when already running; the reading's error
  // when the power cannot be read.
  absl::Status Start(const Nvml& nvml, int index);
  absl::Status Start(PowerSource source);

  // Takes a last reading, joins the thread and summarizes. The energy is the
  // counter's difference when it could be read at Start and at Stop, else the
  // trapezoidal integral of the samples over time. FailedPrecondition when
  // not running.
  absl::StatusOr<PowerSummary> Stop();

  bool IsRunning() const;

 private:
  struct Sample {
    std::chrono::steady_clock::time_point time;
    double watts;
  };
  void Loop();  // the sampling thread

  const std::chrono::milliseconds period_;
  // Held by Start and Stop for their whole run, so that they do not interleave;
  // taken before mutex_. Guards the members up to mutex_, which the sampling
  // thread only reads (source_) or does not touch.
  std::mutex start_stop_mutex_;
  PowerSource source_;
  std::chrono::steady_clock::time_point start_time_;
  absl::StatusOr<uint64_t> start_millijoules_;  // the energy counter at Start, mJ
  std::thread thread_;

  mutable std::mutex mutex_;      // shared with the sampling thread; guards the members below
  std::condition_variable wake_;  // signalled when stop_requested_ is set
  bool running_ = false;
  bool stop_requested_ = false;
  std::vector<Sample> samples_;  // [samples], in time order
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_BENCH_NVML_H_
