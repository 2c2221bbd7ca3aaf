// Tests of agent/bench/nvml.h. Without libnvidia-ml.so.1 (this CI machine),
// Nvml::Load must return null and say why; with it (GPU machines), the
// device queries must describe a real GPU. Everywhere, a fake
// libnvidia-ml.so.1 (fake_nvml.cc) with known answers checks every field,
// unsupported fields and error messages. PowerSampler is tested on fake
// power sources with known integrals, through Nvml on the fake library, and
// on the real GPU when there is one.
#include "agent/bench/nvml.h"

#include <dlfcn.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>

namespace aiscore {
namespace {

using ::testing::HasSubstr;
using Clock = std::chrono::steady_clock;

bool LibraryPresent() {
  void* library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (library == nullptr) return false;
  dlclose(library);
  return true;
}

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

TEST(NvmlTest, LoadIsNullAndSaysWhyWithoutTheLibrary) {
  if (LibraryPresent()) GTEST_SKIP() << "libnvidia-ml.so.1 is present on this machine";
  absl::Status why;
  std::unique_ptr<Nvml> nvml = Nvml::Load(&why);
  EXPECT_EQ(nvml, nullptr);
  EXPECT_TRUE(absl::IsNotFound(why)) << why;
  EXPECT_THAT(std::string(why.message()), HasSubstr("libnvidia-ml.so.1"));
  EXPECT_EQ(Nvml::Load(), nullptr);  // and without asking why
}

class NvmlDeviceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!LibraryPresent()) GTEST_SKIP() << "no libnvidia-ml.so.1: no NVIDIA driver here";
    absl::Status why;
    nvml_ = Nvml::Load(&why);
    if (nvml_ == nullptr) GTEST_SKIP() << "NVML present but unusable: " << why;
    EXPECT_TRUE(why.ok()) << why;
  }
  std::unique_ptr<Nvml> nvml_;
};

TEST_F(NvmlDeviceTest, InfoDescribesEachGpu) {
  const int count = nvml_->DeviceCount();
  ASSERT_GT(count, 0);
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<aiscore::v1::GpuInfo> info = nvml_->Info(i);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_FALSE(info->name().empty());
    EXPECT_GT(info->memory_bytes(), int64_t{1} << 30);
    EXPECT_EQ(info->multiprocessors(), 0);
    EXPECT_TRUE(std::regex_match(info->compute_capability(), std::regex("[0-9]+\\.[0-9]")))
        << info->compute_capability();
    EXPECT_TRUE(std::regex_match(info->cuda_version(), std::regex("[0-9]+\\.[0-9]")))
        << info->cuda_version();
    EXPECT_FALSE(info->driver_version().empty());
    EXPECT_THAT(info->uuid(), ::testing::StartsWith("GPU-"));
    EXPECT_GT(info->max_sm_clock_mhz(), 100);
    EXPECT_GT(info->max_memory_clock_mhz(), 100);
    if (info->power_limit_watts() != 0) {
      EXPECT_GT(info->power_limit_watts(), 10);
      EXPECT_LT(info->power_limit_watts(), 3000);
    }
  }
}

TEST_F(NvmlDeviceTest, BadIndexesAreErrorsNamingTheFunction) {
  absl::StatusOr<aiscore::v1::GpuInfo> info = nvml_->Info(nvml_->DeviceCount());
  ASSERT_FALSE(info.ok());
  EXPECT_THAT(std::string(info.status().message()), HasSubstr("nvmlDeviceGetHandleByIndex_v2"));
  EXPECT_TRUE(absl::IsInvalidArgument(nvml_->Info(-1).status()));
  EXPECT_FALSE(nvml_->PowerWatts(nvml_->DeviceCount()).ok());
}

TEST_F(NvmlDeviceTest, PowerAndEnergyAreReadable) {
  absl::StatusOr<double> watts = nvml_->PowerWatts(0);
  ASSERT_TRUE(watts.ok()) << watts.status();
  EXPECT_GT(*watts, 1.0);
  EXPECT_LT(*watts, 3000.0);
  absl::StatusOr<uint64_t> a = nvml_->TotalEnergyMillijoules(0);
  if (!a.ok()) {
    EXPECT_TRUE(absl::IsUnimplemented(a.status())) << a.status();
    return;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  absl::StatusOr<uint64_t> b = nvml_->TotalEnergyMillijoules(0);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_GE(*b, *a);
}

TEST_F(NvmlDeviceTest, PowerSamplerMeasuresTheGpu) {
  PowerSampler sampler;
  ASSERT_TRUE(sampler.Start(*nvml_, 0).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  absl::StatusOr<PowerSummary> summary = sampler.Stop();
  ASSERT_TRUE(summary.ok()) << summary.status();
  EXPECT_GE(summary->samples, 5);
  EXPECT_GT(summary->mean_watts, 1.0);
  EXPECT_GT(summary->joules, 0.0);
  // An idle GPU draws between a few and a few hundred watts.
  EXPECT_LT(summary->joules, 3000.0 * summary->seconds);
}

// ---- Nvml on the fake libnvidia-ml.so.1.

class FakeNvmlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fake_ = dlopen(AISCORE_FAKE_NVML, RTLD_NOW | RTLD_LOCAL);
    ASSERT_NE(fake_, nullptr) << dlerror();
    // dlopen by name now finds the fake by its SONAME, unless a real
    // libnvidia-ml.so.1 was loaded into this process first.
    void* by_name = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (by_name != nullptr) dlclose(by_name);
    if (by_name != fake_) GTEST_SKIP() << "a real libnvidia-ml.so.1 is loaded in this process";
    set_init_result_ =
        reinterpret_cast<void (*)(int)>(dlsym(fake_, "aiscore_fake_nvml_set_init_result"));
    live_inits_ = reinterpret_cast<int (*)()>(dlsym(fake_, "aiscore_fake_nvml_live_inits"));
    ASSERT_NE(set_init_result_, nullptr);
    ASSERT_NE(live_inits_, nullptr);
  }
  void TearDown() override {
    if (set_init_result_ != nullptr) set_init_result_(0);
    if (fake_ != nullptr) dlclose(fake_);
  }
  std::unique_ptr<Nvml> LoadFake() {
    absl::Status why;
    std::unique_ptr<Nvml> nvml = Nvml::Load(&why);
    EXPECT_NE(nvml, nullptr) << why;
    EXPECT_TRUE(why.ok()) << why;
    return nvml;
  }
  void* fake_ = nullptr;
  void (*set_init_result_)(int) = nullptr;
  int (*live_inits_)() = nullptr;
};

TEST_F(FakeNvmlTest, InfoReadsEveryField) {
  std::unique_ptr<Nvml> nvml = LoadFake();
  ASSERT_NE(nvml, nullptr);
  EXPECT_EQ(nvml->DeviceCount(), 2);
  absl::StatusOr<aiscore::v1::GpuInfo> info = nvml->Info(0);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name(), "NVIDIA H100 80GB HBM3 (fake)");
  EXPECT_EQ(info->memory_bytes(), 85520809984);
  EXPECT_EQ(info->multiprocessors(), 0);
  EXPECT_EQ(info->compute_capability(), "9.0");
  EXPECT_EQ(info->max_sm_clock_mhz(), 1980);
  EXPECT_EQ(info->max_memory_clock_mhz(), 2619);
  EXPECT_DOUBLE_EQ(info->power_limit_watts(), 700.0);
  EXPECT_EQ(info->driver_version(), "550.54.15");
  EXPECT_EQ(info->cuda_version(), "12.4");
  EXPECT_EQ(info->pcie_generation(), 5);
  EXPECT_EQ(info->pcie_width(), 16);
  EXPECT_EQ(info->uuid(), "GPU-00000000-1111-2222-3333-444444444444");
  absl::StatusOr<double> watts = nvml->PowerWatts(0);
  ASSERT_TRUE(watts.ok()) << watts.status();
  EXPECT_DOUBLE_EQ(*watts, 123.456);
  EXPECT_TRUE(nvml->TotalEnergyMillijoules(0).ok());
}

TEST_F(FakeNvmlTest, FieldsAGpuDoesNotReportStayUnset) {
  std::unique_ptr<Nvml> nvml = LoadFake();
  ASSERT_NE(nvml, nullptr);
  absl::StatusOr<aiscore::v1::GpuInfo> info = nvml->Info(1);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->name(), "Tesla P4 (fake)");
  EXPECT_EQ(info->compute_capability(), "6.1");
  EXPECT_EQ(info->power_limit_watts(), 0);  // Insufficient Permissions
  EXPECT_EQ(info->pcie_generation(), 0);    // Not Supported
  EXPECT_EQ(info->pcie_width(), 0);
  EXPECT_EQ(info->cuda_version(), "12.4");
}

TEST_F(FakeNvmlTest, ErrorsNameTheFunctionAndSayWhatNvmlSaid) {
  std::unique_ptr<Nvml> nvml = LoadFake();
  ASSERT_NE(nvml, nullptr);
  absl::StatusOr<aiscore::v1::GpuInfo> info = nvml->Info(2);
  EXPECT_TRUE(absl::IsInvalidArgument(info.status())) << info.status();
  EXPECT_THAT(std::string(info.status().message()),
              HasSubstr("nvmlDeviceGetHandleByIndex_v2: Invalid Argument"));
  EXPECT_TRUE(absl::IsInvalidArgument(nvml->Info(-1).status()));
  absl::StatusOr<uint64_t> energy = nvml->TotalEnergyMillijoules(1);
  EXPECT_TRUE(absl::IsUnimplemented(energy.status())) << energy.status();
  EXPECT_THAT(std::string(energy.status().message()),
              HasSubstr("nvmlDeviceGetTotalEnergyConsumption: Not Supported"));
  EXPECT_FALSE(nvml->PowerWatts(7).ok());
}

TEST_F(FakeNvmlTest, LoadIsNullAndSaysWhyWhenInitFails) {
  set_init_result_(9);  // NVML_ERROR_DRIVER_NOT_LOADED
  absl::Status why;
  EXPECT_EQ(Nvml::Load(&why), nullptr);
  EXPECT_TRUE(absl::IsUnavailable(why)) << why;
  EXPECT_THAT(std::string(why.message()), HasSubstr("nvmlInit_v2: Driver Not Loaded"));
  EXPECT_EQ(live_inits_(), 0);
}

TEST_F(FakeNvmlTest, EachNvmlInitIsShutDown) {
  {
    std::unique_ptr<Nvml> a = LoadFake();
    std::unique_ptr<Nvml> b = LoadFake();
    EXPECT_EQ(live_inits_(), 2);
  }
  EXPECT_EQ(live_inits_(), 0);
}

TEST_F(FakeNvmlTest, PowerSamplerPrefersTheGpusEnergyCounter) {
  std::unique_ptr<Nvml> nvml = LoadFake();
  ASSERT_NE(nvml, nullptr);
  PowerSampler sampler(std::chrono::milliseconds(5));
  ASSERT_TRUE(sampler.Start(*nvml, 0).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  absl::StatusOr<PowerSummary> s = sampler.Stop();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->from_counter);
  EXPECT_DOUBLE_EQ(s->mean_watts, 123.456);
  EXPECT_NEAR(s->joules, 100.0 * s->seconds, 0.05 * 100.0 * s->seconds);  // the counter's 100 W
  EXPECT_GE(s->samples, 5);
}

TEST_F(FakeNvmlTest, PowerSamplerIntegratesWithoutAnEnergyCounter) {
  std::unique_ptr<Nvml> nvml = LoadFake();
  ASSERT_NE(nvml, nullptr);
  PowerSampler sampler(std::chrono::milliseconds(5));
  ASSERT_TRUE(sampler.Start(*nvml, 1).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  absl::StatusOr<PowerSummary> s = sampler.Stop();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->from_counter);
  EXPECT_DOUBLE_EQ(s->mean_watts, 40.0);
  EXPECT_NEAR(s->joules, 40.0 * s->seconds, 0.01 * 40.0 * s->seconds);
}

TEST_F(FakeNvmlTest, PowerSamplerStartFailsOnABadIndex) {
  std::unique_ptr<Nvml> nvml = LoadFake();
  ASSERT_NE(nvml, nullptr);
  PowerSampler sampler;
  EXPECT_TRUE(absl::IsInvalidArgument(sampler.Start(*nvml, 5)));
  EXPECT_FALSE(sampler.IsRunning());
}

// ---- PowerSampler on fake power sources.

TEST(PowerSamplerTest, IntegratesConstantPower) {
  PowerSampler sampler(std::chrono::milliseconds(5));
  PowerSource source;
  source.watts = [] { return 150.0; };
  ASSERT_TRUE(sampler.Start(source).ok());
  EXPECT_TRUE(sampler.IsRunning());
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  absl::StatusOr<PowerSummary> s = sampler.Stop();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(sampler.IsRunning());
  EXPECT_FALSE(s->from_counter);
  EXPECT_DOUBLE_EQ(s->mean_watts, 150.0);
  EXPECT_GE(s->seconds, 0.2);
  EXPECT_NEAR(s->joules, 150.0 * s->seconds, 0.01 * 150.0 * s->seconds);
  EXPECT_GE(s->samples, 10);  // ~40 at 5 ms; a loaded machine gets fewer
  EXPECT_LE(s->samples, 2 + static_cast<int>(s->seconds / 0.005) + 1);
}

TEST(PowerSamplerTest, IntegratesARampWithTheTrapezoidRule) {
  // P(t) = 100 + 1000 t W: E(T) = 100 T + 500 T^2, exact for trapezoids.
  const Clock::time_point t0 = Clock::now();
  PowerSampler sampler(std::chrono::milliseconds(10));
  PowerSource source;
  source.watts = [t0] { return 100.0 + 1000.0 * SecondsSince(t0); };
  ASSERT_TRUE(sampler.Start(source).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  absl::StatusOr<PowerSummary> s = sampler.Stop();
  const double t = SecondsSince(t0);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_NEAR(s->joules, 100.0 * t + 500.0 * t * t, 0.02 * (100.0 * t + 500.0 * t * t));
}

TEST(PowerSamplerTest, PrefersTheEnergyCounter) {
  // The counter says 100 W; the power readings say 999 W.
  const Clock::time_point t0 = Clock::now();
  PowerSampler sampler;
  PowerSource source;
  source.watts = [] { return 999.0; };
  source.millijoules = [t0]() -> absl::StatusOr<uint64_t> {
    return static_cast<uint64_t>(1e6 + 100.0 * 1000.0 * SecondsSince(t0));
  };
  ASSERT_TRUE(sampler.Start(source).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  absl::StatusOr<PowerSummary> s = sampler.Stop();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_TRUE(s->from_counter);
  EXPECT_NEAR(s->joules, 100.0 * s->seconds, 0.05 * 100.0 * s->seconds);
  EXPECT_DOUBLE_EQ(s->mean_watts, 999.0);
}

TEST(PowerSamplerTest, FallsBackToSamplesWhenTheCounterFails) {
  PowerSampler sampler(std::chrono::milliseconds(5));
  PowerSource source;
  source.watts = [] { return 50.0; };
  source.millijoules = []() -> absl::StatusOr<uint64_t> {
    return absl::UnimplementedError("nvmlDeviceGetTotalEnergyConsumption: Not Supported");
  };
  ASSERT_TRUE(sampler.Start(source).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  absl::StatusOr<PowerSummary> s = sampler.Stop();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_FALSE(s->from_counter);
  EXPECT_NEAR(s->joules, 50.0 * s->seconds, 0.01 * 50.0 * s->seconds);
}

TEST(PowerSamplerTest, SkipsFailedReadings) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  PowerSampler sampler(std::chrono::milliseconds(5));
  PowerSource source;
  source.watts = [calls]() -> absl::StatusOr<double> {
    if (calls->fetch_add(1) % 2 == 1) return absl::UnavailableError("flaky");
    return 80.0;
  };
  ASSERT_TRUE(sampler.Start(source).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  absl::StatusOr<PowerSummary> s = sampler.Stop();
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_DOUBLE_EQ(s->mean_watts, 80.0);
  EXPECT_LE(s->samples, (calls->load() + 1) / 2);
  EXPECT_NEAR(s->joules, 80.0 * s->seconds, 0.05 * 80.0 * s->seconds);
}

TEST(PowerSamplerTest, StartAndStopAreCheckedAndRepeatable) {
  PowerSampler sampler;
  EXPECT_TRUE(absl::IsFailedPrecondition(sampler.Stop().status()));
  EXPECT_TRUE(absl::IsInvalidArgument(sampler.Start(PowerSource())));

  PowerSource broken;
  broken.watts = []() -> absl::StatusOr<double> {
    return absl::PermissionDeniedError("nvmlDeviceGetPowerUsage: Insufficient Permissions");
  };
  const absl::Status failed = sampler.Start(broken);
  EXPECT_TRUE(absl::IsPermissionDenied(failed)) << failed;
  EXPECT_FALSE(sampler.IsRunning());

  PowerSource source;
  source.watts = [] { return 10.0; };
  for (int round = 0; round < 3; ++round) {
    ASSERT_TRUE(sampler.Start(source).ok());
    EXPECT_TRUE(absl::IsFailedPrecondition(sampler.Start(source)));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    absl::StatusOr<PowerSummary> s = sampler.Stop();
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_GE(s->samples, 2);
    EXPECT_TRUE(absl::IsFailedPrecondition(sampler.Stop().status()));
  }
}

TEST(PowerSamplerTest, ConcurrentStopsSucceedOnce) {
  PowerSampler sampler(std::chrono::milliseconds(1));
  PowerSource source;
  source.watts = [] { return 1.0; };
  for (int round = 0; round < 20; ++round) {
    ASSERT_TRUE(sampler.Start(source).ok());
    std::atomic<int> ok{0}, refused{0};
    auto stop = [&] {
      absl::StatusOr<PowerSummary> s = sampler.Stop();
      if (s.ok()) {
        ++ok;
      } else if (absl::IsFailedPrecondition(s.status())) {
        ++refused;
      }
    };
    std::thread a(stop), b(stop), c(stop);
    a.join();
    b.join();
    c.join();
    EXPECT_EQ(ok.load(), 1);
    EXPECT_EQ(refused.load(), 2);
  }
}

TEST(PowerSamplerTest, DestructionStopsTheThread) {
  auto calls = std::make_shared<std::atomic<int>>(0);
  {
    PowerSampler sampler(std::chrono::milliseconds(1));
    PowerSource source;
    source.watts = [calls] {
      ++*calls;
      return 5.0;
    };
    ASSERT_TRUE(sampler.Start(source).ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
  }  // running: the destructor stops and joins
  const int after = calls->load();
  EXPECT_GE(after, 3);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_EQ(calls->load(), after);
}

}  // namespace
}  // namespace aiscore
