// scoring/calibration: the fit recovers known bandwidth, overhead and compute
// from data generated with them (exactly, and within 2% under noise); devices
// without results borrow their family's median efficiency; the errors it
// reports are measured leave-one-out.
#include "scoring/calibration.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

namespace aiscore {
namespace {

using ::testing::HasSubstr;

const HardwareSpec* Row(const std::string& reported, int64_t memory = 0) {
  const HardwareSpec* row = MatchHardware(reported, memory);
  EXPECT_NE(row, nullptr) << reported;
  return row;
}

// Samples of a device that reads at `bandwidth` with `overhead` per token and
// computes at `flops`, each figure off by up to `noise` (relative, seeded).
DeviceSamples Generate(const std::string& name, const HardwareSpec* spec, double bandwidth,
                       double overhead, double flops, double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> jitter(-noise, noise);
  DeviceSamples d;
  d.device = name;
  d.spec = spec;
  // The basket's decode cases: 4 formats x (chat at depth ~576, long at ~8224) of
  // target-7b, plus draft-1b; bytes = weights + KV at the depth.
  for (double weights : {14.23e9, 7.56e9, 4.00e9, 2.33e9, 2.2e9, 1.2e9, 0.65e9, 0.37e9}) {
    for (double kv : {0.075e9, 1.08e9}) {
      const double bytes = weights + kv;
      const double rate = 1 / (overhead + bytes / bandwidth) * (1 + jitter(rng));
      d.decode.push_back(DecodeSample{bytes, rate, 5});
    }
  }
  for (double tokens : {512.0, 8192.0}) {
    for (double fpt : {14.5e9, 15.1e9, 2.3e9}) {
      const double rate = flops / fpt * (1 + jitter(rng));
      d.prefill.push_back(PrefillSample{tokens, fpt, 4e9, rate, 5});
    }
  }
  return d;
}

TEST(CalibrationTest, RecoversBandwidthOverheadAndComputeExactly) {
  const DeviceSamples d = Generate("X", nullptr, 800e9, 2e-3, 150e12, 0, 1);
  absl::StatusOr<DeviceModel> m = FitDevice(d);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_NEAR(m->bandwidth / 800e9, 1, 1e-9);
  EXPECT_NEAR(m->overhead_seconds / 2e-3, 1, 1e-9);
  EXPECT_NEAR(m->flops / 150e12, 1, 1e-12);
  EXPECT_EQ(m->results, 5);
  EXPECT_THAT(m->basis, HasSubstr("fit to 5 results of X"));
}

TEST(CalibrationTest, RecoversThemWithin2PercentUnderNoise) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const DeviceSamples d = Generate("X", nullptr, 1000e9, 1.5e-3, 300e12, 0.03, seed);
    absl::StatusOr<DeviceModel> m = FitDevice(d);
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_NEAR(m->bandwidth / 1000e9, 1, 0.02) << seed;
    EXPECT_NEAR(m->flops / 300e12, 1, 0.02) << seed;
    // Overhead is the small term: within 2% of a decoded token's time.
    EXPECT_NEAR(m->overhead_seconds, 1.5e-3, 0.02 * (1.5e-3 + 4e9 / 1000e9)) << seed;
  }
}

TEST(CalibrationTest, ANegativeInterceptFitsThroughTheOrigin) {
  DeviceSamples d = Generate("X", nullptr, 500e9, 0, 100e12, 0, 1);
  // Faster than linear at small sizes (caches): the intercept would go negative.
  d.decode.push_back(DecodeSample{0.1e9, 1 / (0.1e9 / 500e9) * 3, 1});
  absl::StatusOr<DeviceModel> m = FitDevice(d);
  ASSERT_TRUE(m.ok());
  EXPECT_GE(m->overhead_seconds, 0);
  EXPECT_GT(m->bandwidth, 0);
}

TEST(CalibrationTest, RefusesDevicesWithoutDecodeOrPrefillOrWithBadFigures) {
  DeviceSamples d = Generate("X", nullptr, 500e9, 0, 100e12, 0, 1);
  DeviceSamples no_prefill = d;
  no_prefill.prefill.clear();
  EXPECT_EQ(FitDevice(no_prefill).status().code(), absl::StatusCode::kInvalidArgument);
  DeviceSamples bad = d;
  bad.decode[0].tokens_per_second = std::nan("");
  EXPECT_THAT(std::string(FitDevice(bad).status().message()), HasSubstr("not finite"));
  bad = d;
  bad.prefill[0].flops_per_token = -1;
  EXPECT_FALSE(FitDevice(bad).ok());
}

TEST(CalibrationTest, DevicesWithoutResultsBorrowTheirFamilysMedianEfficiency) {
  // Three Ada GPUs measured at 80% of their bandwidth and 60% of their FP16 rate.
  std::vector<DeviceSamples> devices;
  for (const char* name : {"NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4080",
                           "NVIDIA GeForce RTX 4070"}) {
    const HardwareSpec* spec = Row(name);
    devices.push_back(Generate(spec->name, spec, 0.8 * spec->memory_bandwidth, 1e-3,
                               0.6 * spec->fp16_flops, 0, 7));
  }
  const Calibration c = Calibration::Build(devices);
  EXPECT_EQ(c.fits().size(), 3u);

  const HardwareSpec* ada = Row("NVIDIA GeForce RTX 4070 Ti");
  std::optional<DeviceModel> m = c.ModelOf(ada->name, ada);
  ASSERT_TRUE(m.has_value());
  EXPECT_NEAR(m->bandwidth / ada->memory_bandwidth, 0.8, 1e-9);
  EXPECT_NEAR(m->flops / ada->fp16_flops, 0.6, 1e-9);
  EXPECT_NEAR(m->overhead_seconds, 1e-3, 1e-9);
  EXPECT_EQ(m->results, 0);
  EXPECT_THAT(m->basis, HasSubstr("family ada (3 GPUs"));

  // A family with no fitted GPU uses all of them.
  const HardwareSpec* hopper = Row("NVIDIA H100 80GB HBM3", 80ll << 30);
  m = c.ModelOf(hopper->name, hopper);
  ASSERT_TRUE(m.has_value());
  EXPECT_THAT(m->basis, HasSubstr("all fitted GPUs"));
  EXPECT_NEAR(m->bandwidth / hopper->memory_bandwidth, 0.8, 1e-9);

  // A fitted device is its own fit; an unknown one without figures has no model.
  m = c.ModelOf(devices[0].device, devices[0].spec);
  ASSERT_TRUE(m.has_value());
  EXPECT_THAT(m->basis, HasSubstr("fit to"));
  EXPECT_FALSE(c.ModelOf("CPU: Something", nullptr).has_value());

  // Consistent efficiencies: every leave-one-out error is ~0.
  EXPECT_NEAR(*c.errors().decode_leave_one_case_out, 0, 1e-9);
  EXPECT_NEAR(*c.errors().decode_leave_one_device_out, 0, 1e-9);
  EXPECT_NEAR(*c.errors().prefill_leave_one_device_out, 0, 1e-9);
  EXPECT_EQ(c.errors().devices, 3);
  EXPECT_EQ(c.errors().decode_cases, 48);
}

TEST(CalibrationTest, ErrorsAreMeasuredNotAssumed) {
  std::vector<DeviceSamples> devices;
  const double efficiencies[] = {0.6, 0.8, 0.9};
  int i = 0;
  for (const char* name : {"NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 4080",
                           "NVIDIA GeForce RTX 4070"}) {
    const HardwareSpec* spec = Row(name);
    devices.push_back(Generate(spec->name, spec, efficiencies[i] * spec->memory_bandwidth, 1e-3,
                               0.6 * spec->fp16_flops, 0.05, 100 + i));
    ++i;
  }
  const Calibration c = Calibration::Build(devices);
  // Within a GPU the noise (up to 5%) is what remains; across GPUs the spread
  // of efficiencies (0.6 to 0.9) shows.
  ASSERT_TRUE(c.errors().decode_leave_one_case_out.has_value());
  EXPECT_GT(*c.errors().decode_leave_one_case_out, 0.005);
  EXPECT_LT(*c.errors().decode_leave_one_case_out, 0.05);
  EXPECT_GT(*c.errors().decode_leave_one_device_out, 0.1);
  for (const auto& [device, e] : c.device_errors()) {
    ASSERT_TRUE(e.decode.has_value()) << device;
    ASSERT_TRUE(e.prefill.has_value()) << device;
  }
  // Fewer than two fitted devices: no leave-one-device-out figure.
  const Calibration one = Calibration::Build({devices[0]});
  EXPECT_FALSE(one.errors().decode_leave_one_device_out.has_value());
  const Calibration none = Calibration::Build({});
  EXPECT_FALSE(none.errors().decode_leave_one_case_out.has_value());
  EXPECT_EQ(none.EfficiencyOf("ada").devices, 0);
  EXPECT_THAT(none.EfficiencyOf("ada").scope, HasSubstr("reference device"));
}

TEST(CalibrationTest, PredictionsFollowTheModel) {
  const DeviceModel m{1e-3, 1000e9, 200e12, 3, ""};
  EXPECT_DOUBLE_EQ(PredictDecodeRate(m, 4e9), 1 / (1e-3 + 4e-3));
  // Compute-bound prompt; and one so short that reading the weights bounds it.
  EXPECT_DOUBLE_EQ(PredictPrefillRate(m, 512, 14e9, 4e9), 200e12 / 14e9);
  EXPECT_DOUBLE_EQ(PredictPrefillRate(m, 1, 14e9, 4e9), 1 / 4e-3);
}

}  // namespace
}  // namespace aiscore
