// The collector's verification: a complete, plausible result of a registered
// suite is accepted and scored; each rejection reason is produced by a
// hand-built envelope that breaks exactly that rule.
#include "collector/verify/submission_verifier.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>
#include <limits>

#include "agent/sign/envelope.h"
#include "agent/sign/key_pair.h"
#include "collector/verify/device_limits.h"
#include "google/protobuf/util/time_util.h"
#include "tests/collector/quick_result.h"

namespace aiscore {
namespace {

using google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

const absl::Time kNow = kQuickResultNow;

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<LoadedSuite> quick = LoadSuite("quick");
    ASSERT_TRUE(quick.ok());
    quick_ = *quick;
    absl::StatusOr<KeyPair> key = KeyPair::Generate();
    ASSERT_TRUE(key.ok());
    key_ = std::make_unique<KeyPair>(*key);
  }

  v1::SignedResult Sign(const v1::RunResult& r) {
    absl::StatusOr<v1::SignedResult> e = SignRunResult(r, *key_);
    EXPECT_TRUE(e.ok());
    return *e;
  }

  SubmissionVerifier Verifier(VerifierOptions options = {}) {
    SubmissionVerifier v(std::move(options));
    EXPECT_TRUE(v.RegisterBuiltInSuites().ok());
    return v;
  }

  // Mutates a valid result and expects the given rejection.
  void ExpectRejected(const std::function<void(v1::RunResult&)>& mutate, v1::RejectReason reason,
                      const std::string& message, VerifierOptions options = {}) {
    v1::RunResult r = QuickResult(quick_);
    mutate(r);
    const Verdict v = Verifier(std::move(options)).Verify(Sign(r), kNow);
    EXPECT_FALSE(v.accepted) << message;
    EXPECT_EQ(v.reason, reason) << v.message;
    EXPECT_THAT(v.message, HasSubstr(message));
  }

  LoadedSuite quick_;
  std::unique_ptr<KeyPair> key_;
};

TEST_F(VerifierTest, ACompleteResultIsAcceptedAndRescored) {
  const Verdict v = Verifier().Verify(Sign(QuickResult(quick_)), kNow);
  ASSERT_TRUE(v.accepted) << v.message;
  EXPECT_FALSE(v.ranked);  // quick is not rankable
  // Every measured case at its reference: 1000 x capacity (8 of 12 cases ran).
  EXPECT_NEAR(v.score.score, 1000.0 * 8 / 12, 1e-6);
  EXPECT_EQ(v.score.cases_ran, 8);
}

TEST_F(VerifierTest, PayloadTypeSignatureAndMalformedPayload) {
  v1::SignedResult e = Sign(QuickResult(quick_));
  e.set_payload_type("application/json");
  Verdict v = Verifier().Verify(e, kNow);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_PAYLOAD_TYPE) << v.message;

  e = Sign(QuickResult(quick_));
  std::string payload = e.payload();
  payload[payload.size() / 2] ^= 1;
  e.set_payload(payload);
  v = Verifier().Verify(e, kNow);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_SIGNATURE) << v.message;

  e = Sign(QuickResult(quick_));
  e.set_public_key("short");
  EXPECT_EQ(Verifier().Verify(e, kNow).reason, v1::REJECT_REASON_SIGNATURE);

  // Properly signed bytes that are not a RunResult.
  v1::SignedResult garbage;
  garbage.set_payload_type(std::string(kRunResultPayloadType));
  garbage.set_payload(std::string("\xff\xff\xff\xff garbage", 12));
  garbage.set_public_key(key_->public_key());
  garbage.set_signature(key_->Sign(Pae(garbage.payload_type(), garbage.payload())));
  v = Verifier().Verify(garbage, kNow);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_MALFORMED) << v.message;

  ExpectRejected([](v1::RunResult& r) { r.set_nonce("short"); }, v1::REJECT_REASON_MALFORMED,
                 "nonce");
}

TEST_F(VerifierTest, UnknownSuite) {
  ExpectRejected([](v1::RunResult& r) { r.mutable_suite()->set_sha256(std::string(64, '0')); },
                 v1::REJECT_REASON_UNKNOWN_SUITE, "is not registered");
  ExpectRejected([](v1::RunResult& r) { r.mutable_suite()->set_name("v9"); },
                 v1::REJECT_REASON_UNKNOWN_SUITE, "suite 'v9'");
}

TEST_F(VerifierTest, IncompleteResults) {
  ExpectRejected([](v1::RunResult& r) { r.mutable_cases()->RemoveLast(); },
                 v1::REJECT_REASON_INCOMPLETE, "is missing");
  ExpectRejected([](v1::RunResult& r) { *r.add_cases() = r.cases(0); },
                 v1::REJECT_REASON_INCOMPLETE, "appears twice");
  ExpectRejected([](v1::RunResult& r) { r.mutable_cases(0)->set_name("chat/q5_k"); },
                 v1::REJECT_REASON_INCOMPLETE, "'chat/q5_k' is not in suite");
}

TEST_F(VerifierTest, InvalidValues) {
  ExpectRejected(
      [](v1::RunResult& r) { r.mutable_cases(0)->set_status(v1::CASE_STATUS_UNSPECIFIED); },
      v1::REJECT_REASON_INVALID_VALUE, "has no status");
  ExpectRejected(
      [](v1::RunResult& r) { r.mutable_cases(0)->mutable_measurements(0)->set_median(NAN); },
      v1::REJECT_REASON_INVALID_VALUE, "not finite");
  ExpectRejected(
      [](v1::RunResult& r) { r.mutable_cases(0)->mutable_measurements(0)->set_median(-5); },
      v1::REJECT_REASON_INVALID_VALUE, "not finite and positive");
  ExpectRejected(
      [](v1::RunResult& r) { r.mutable_cases(0)->mutable_measurements(0)->set_median(1e9); },
      v1::REJECT_REASON_INVALID_VALUE, "between min and max");
  ExpectRejected(
      [](v1::RunResult& r) {
        r.mutable_cases(0)->mutable_measurements(0)->set_unit(v1::UNIT_SECONDS);
      },
      v1::REJECT_REASON_INVALID_VALUE, "kind or unit");
  ExpectRejected([](v1::RunResult& r) { r.mutable_cases(0)->mutable_measurements()->RemoveLast(); },
                 v1::REJECT_REASON_INVALID_VALUE, "measurements");
  ExpectRejected(
      [](v1::RunResult& r) {
        r.mutable_cases(0)->mutable_self_check()->set_status(v1::SELF_CHECK_STATUS_FAILED);
      },
      v1::REJECT_REASON_INVALID_VALUE, "self-check");
  ExpectRejected(
      [](v1::RunResult& r) { r.mutable_cases(0)->mutable_measurements(0)->add_samples(1); },
      v1::REJECT_REASON_INVALID_VALUE, "samples for 2 timed runs");
  ExpectRejected(
      [](v1::RunResult& r) { r.mutable_cases(0)->mutable_measurements(0)->set_stddev(-1); },
      v1::REJECT_REASON_INVALID_VALUE, "stddev");
  // A custom model with a shape that would divide by zero.
  ExpectRejected(
      [](v1::RunResult& r) {
        r.mutable_model()->set_custom(true);
        r.mutable_model()->set_file_format("q4_k");
        r.mutable_model()->mutable_shape()->set_n_heads(0);
      },
      v1::REJECT_REASON_INVALID_VALUE, "custom model's shape");
}

TEST_F(VerifierTest, TimeWindow) {
  ExpectRejected(
      [](v1::RunResult& r) {
        *r.mutable_finished_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) + 3600);
      },
      v1::REJECT_REASON_TIMESTAMP, "in the future");
  ExpectRejected(
      [](v1::RunResult& r) {
        *r.mutable_started_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) - 4e7);
        *r.mutable_finished_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow) - 3e7);
      },
      v1::REJECT_REASON_TIMESTAMP, "older than");
  ExpectRejected(
      [](v1::RunResult& r) {
        *r.mutable_started_at() = TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(kNow));
      },
      v1::REJECT_REASON_TIMESTAMP, "before started_at");
  ExpectRejected([](v1::RunResult& r) { r.clear_finished_at(); }, v1::REJECT_REASON_TIMESTAMP,
                 "missing");
}

// The time window converted timestamps with TimeUtil::TimestampToMilliseconds,
// whose seconds x 1000 overflows int64 for seconds beyond about 2^53: a
// finished_at in the year 584 million wrapped around to "a minute ago" and
// was accepted. Out-of-range seconds and nanos are now refused.
TEST_F(VerifierTest, RegressionTimestampMillisecondsOverflow) {
  // seconds x 1000 = (kNow - 60.616 s, in ms) + 2^64.
  const unsigned __int128 wrapped =
      static_cast<unsigned __int128>(absl::ToUnixMillis(kNow) - 60616) +
      (static_cast<unsigned __int128>(1) << 64);
  ASSERT_EQ(static_cast<int>(wrapped % 1000), 0);
  const int64_t seconds = static_cast<int64_t>(wrapped / 1000);
  ExpectRejected([&](v1::RunResult& r) { r.mutable_finished_at()->set_seconds(seconds); },
                 v1::REJECT_REASON_TIMESTAMP, "not a valid timestamp");
  ExpectRejected(
      [](v1::RunResult& r) {
        r.mutable_started_at()->set_seconds(std::numeric_limits<int64_t>::min());
      },
      v1::REJECT_REASON_TIMESTAMP, "not a valid timestamp");
  ExpectRejected([](v1::RunResult& r) { r.mutable_finished_at()->set_nanos(-1); },
                 v1::REJECT_REASON_TIMESTAMP, "not a valid timestamp");
  ExpectRejected([](v1::RunResult& r) { r.mutable_finished_at()->set_nanos(1000000000); },
                 v1::REJECT_REASON_TIMESTAMP, "not a valid timestamp");
  // Nanoseconds within a valid timestamp still count.
  v1::RunResult r = QuickResult(quick_);
  r.mutable_finished_at()->set_nanos(999999999);
  EXPECT_TRUE(Verifier().Verify(Sign(r), kNow).accepted);
}

// A time so short that reference / median overflows (a denormal TTFT of
// 5e-324 s) passed every value check, and the result was accepted with an
// infinite score; a rate so slow that median / reference underflows to 0
// alongside it made the score NaN.
TEST_F(VerifierTest, RegressionInfiniteScoreFromDenormalTime) {
  auto set_all = [](v1::RunResult& r, v1::Unit unit, double value) {
    for (v1::CaseResult& c : *r.mutable_cases()) {
      for (v1::Measurement& m : *c.mutable_measurements()) {
        if (m.unit() != unit) continue;
        m.set_median(value);
        m.set_min(value);
        m.set_max(value);
        m.set_stddev(0);
        for (double& x : *m.mutable_samples()) x = value;
      }
    }
  };
  const double denormal = std::numeric_limits<double>::denorm_min();
  ExpectRejected([&](v1::RunResult& r) { set_all(r, v1::UNIT_SECONDS, denormal); },
                 v1::REJECT_REASON_INVALID_VALUE, "not a finite number");
  ExpectRejected(
      [&](v1::RunResult& r) {
        set_all(r, v1::UNIT_SECONDS, denormal);
        set_all(r, v1::UNIT_TOKENS_PER_SECOND, denormal);
      },
      v1::REJECT_REASON_INVALID_VALUE, "not a finite number");
  // A ratio that is finite but whose 1000 x geometric mean overflows.
  ExpectRejected([&](v1::RunResult& r) { set_all(r, v1::UNIT_SECONDS, 1e-310); },
                 v1::REJECT_REASON_INVALID_VALUE, "not a finite number");
}

// A measured speculative case whose break-even acceptance is 0 (speculation
// pays at any acceptance rate) was rejected as "not finite and positive".
TEST_F(VerifierTest, RegressionZeroBreakEvenAcceptanceRejected) {
  v1::RunResult r = QuickResult(quick_);
  const v1::Workload* spec = nullptr;
  for (const v1::Workload& w : quick_.spec.workloads()) {
    if (w.kind() == v1::WORKLOAD_KIND_SPECULATIVE) spec = &w;
  }
  ASSERT_NE(spec, nullptr);
  for (v1::CaseResult& c : *r.mutable_cases()) {
    if (c.workload() != spec->name()) continue;
    c.set_status(v1::CASE_STATUS_OK);
    c.clear_reason();
    c.mutable_self_check()->set_status(v1::SELF_CHECK_STATUS_PASSED);
    c.set_timed_runs(1);
    for (const v1::MetricSpec& metric : spec->metrics()) {
      v1::Measurement* m = c.add_measurements();
      m->set_name(metric.name());
      m->set_kind(metric.kind());
      m->set_unit(UnitOf(metric.kind()));
      double value = 1;
      for (const v1::Reference& ref : metric.references()) {
        if (ref.format() == c.format()) value = ref.value();
      }
      if (m->unit() == v1::UNIT_FRACTION) value = 0;
      m->set_median(value);
      m->set_min(value);
      m->set_max(value);
      m->add_samples(value);
    }
  }
  const Verdict v = Verifier().Verify(Sign(r), kNow);
  EXPECT_TRUE(v.accepted) << v.message;
  // Still bounded: a fraction above 1 or below 0 is refused.
  ExpectRejected(
      [&](v1::RunResult& bad) {
        bad = r;
        for (v1::CaseResult& c : *bad.mutable_cases()) {
          for (v1::Measurement& m : *c.mutable_measurements()) {
            if (m.unit() == v1::UNIT_FRACTION) m.set_max(1.5), m.set_median(1.5), m.set_min(1.5);
          }
        }
      },
      v1::REJECT_REASON_INVALID_VALUE, "is not in [0, 1]");
}

TEST_F(VerifierTest, PhysicsRejectsDecodeFasterThanMemoryAllows) {
  // quick-target Q4_K tg16 reference reads the weights at the reference
  // device's effective 179 GB/s; a device with 100 GB/s cannot do that.
  VerifierOptions slow;
  slow.device_limits = [](const v1::RunResult&) {
    return DeviceLimits{.memory_bandwidth = 100e9, .peak_flops = 1e15};
  };
  ExpectRejected([](v1::RunResult&) {}, v1::REJECT_REASON_IMPLAUSIBLE, "GB/s", slow);
  VerifierOptions weak;
  weak.device_limits = [](const v1::RunResult&) {
    return DeviceLimits{.memory_bandwidth = 1e15, .peak_flops = 1e12};
  };
  ExpectRejected([](v1::RunResult&) {}, v1::REJECT_REASON_IMPLAUSIBLE, "TFLOP/s", weak);
  // The reference device itself (256 GB/s, 40 TFLOP/s) is plausible.
  VerifierOptions reference;
  reference.device_limits = [](const v1::RunResult&) {
    return DeviceLimits{.memory_bandwidth = 256e9, .peak_flops = 40e12};
  };
  const Verdict v = Verifier(reference).Verify(Sign(QuickResult(quick_)), kNow);
  EXPECT_TRUE(v.accepted) << v.message;
}

// A v1 result on `gpu` (as NVML names it, with its memory) at `speed` x the reference.
v1::RunResult V1OnGpu(const std::string& gpu, int64_t memory_bytes, double speed) {
  absl::StatusOr<LoadedSuite> v1_suite = LoadSuite("v1");
  EXPECT_TRUE(v1_suite.ok());
  v1::RunResult r = QuickResult(*v1_suite, kNow, speed);
  r.mutable_backend()->set_name("cuda");
  v1::GpuInfo* g = r.mutable_hardware()->add_gpus();
  g->set_name(gpu);
  g->set_memory_bytes(memory_bytes);
  return r;
}

TEST_F(VerifierTest, TheCollectorsPhysicsComeFromTheHardwareTable) {
  const SubmissionVerifier verifier = Verifier(CollectorVerifierOptions());
  constexpr int64_t k24GiB = 24ll << 30;
  // v1's reference reads the weights at 179 GB/s per decoded token. An RTX
  // 4090 (1008 GB/s) can do 5x that (896 GB/s), not 7x (1253 GB/s > 1.1 x 1008).
  Verdict v = verifier.Verify(Sign(V1OnGpu("NVIDIA GeForce RTX 4090", k24GiB, 5)), kNow);
  EXPECT_TRUE(v.accepted) << v.message;
  v = verifier.Verify(Sign(V1OnGpu("NVIDIA GeForce RTX 4090", k24GiB, 7)), kNow);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_IMPLAUSIBLE) << v.message;
  EXPECT_THAT(v.message, HasSubstr("1008.0 GB/s"));
  // A GPU the table lacks is bounded by the fastest row: 100x is beyond any.
  v = verifier.Verify(Sign(V1OnGpu("Imaginary GPU 9000", k24GiB, 7)), kNow);
  EXPECT_TRUE(v.accepted) << v.message;
  v = verifier.Verify(Sign(V1OnGpu("Imaginary GPU 9000", k24GiB, 100)), kNow);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_IMPLAUSIBLE) << v.message;
  // CPU-only results get the generous CPU bound: 10x (1.8 TB/s) passes, 20x does not.
  absl::StatusOr<LoadedSuite> v1_suite = LoadSuite("v1");
  ASSERT_TRUE(v1_suite.ok());
  v = verifier.Verify(Sign(QuickResult(*v1_suite, kNow, 10)), kNow);
  EXPECT_TRUE(v.accepted) << v.message;
  v = verifier.Verify(Sign(QuickResult(*v1_suite, kNow, 20)), kNow);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_IMPLAUSIBLE) << v.message;
  // The quick suite's models fit in caches: no physics check, however fast.
  v = verifier.Verify(Sign(QuickResult(quick_, kNow, 1000)), kNow);
  EXPECT_TRUE(v.accepted) << v.message;
}

// The physics check sized a case's weights by the case's own format field,
// not the format in its name, and skipped a case whose format it did not
// know: a ranked v1 result 7x too fast for its GPU was accepted once every
// case's format read "bogus".
TEST_F(VerifierTest, RegressionCaseFormatFieldSkippedPhysics) {
  const SubmissionVerifier verifier = Verifier(CollectorVerifierOptions());
  v1::RunResult r = V1OnGpu("NVIDIA GeForce RTX 4090", 24ll << 30, 7);
  for (v1::CaseResult& c : *r.mutable_cases()) c.set_format("bogus");
  Verdict v = verifier.Verify(Sign(r), kNow);
  EXPECT_FALSE(v.accepted);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_INVALID_VALUE) << v.message;
  EXPECT_THAT(v.message, HasSubstr("format 'bogus', not those of its name"));
  // The workload field too (calibration reads it).
  r = V1OnGpu("NVIDIA GeForce RTX 4090", 24ll << 30, 1);
  r.mutable_cases(0)->set_workload("long");
  v = verifier.Verify(Sign(r), kNow);
  EXPECT_EQ(v.reason, v1::REJECT_REASON_INVALID_VALUE) << v.message;
  EXPECT_THAT(v.message, HasSubstr("workload 'long'"));
}

TEST_F(VerifierTest, HardwareTableLimitsPerDevice) {
  std::optional<DeviceLimits> limits =
      HardwareTableLimits(V1OnGpu("NVIDIA H100 80GB HBM3", 81559ll << 20, 1));
  ASSERT_TRUE(limits.has_value());
  EXPECT_EQ(limits->memory_bandwidth, 3350e9);
  EXPECT_GT(limits->peak_flops, 900e12);
  absl::StatusOr<LoadedSuite> v1_suite = LoadSuite("v1");
  ASSERT_TRUE(v1_suite.ok());
  limits = HardwareTableLimits(QuickResult(*v1_suite, kNow));  // no GPU: CPU bounds
  ASSERT_TRUE(limits.has_value());
  EXPECT_EQ(limits->memory_bandwidth, kCpuMemoryBandwidthBound);
  EXPECT_EQ(limits->peak_flops, kCpuPeakFlopsBound);
}

TEST_F(VerifierTest, CustomModelsAreVerifiedButNotRanked) {
  v1::RunResult r = QuickResult(quick_);
  // A custom run has one case per workload, in the file's format.
  v1::RunResult custom = r;
  custom.clear_cases();
  for (const v1::CaseResult& c : r.cases()) {
    if (c.format() == "q8_0") *custom.add_cases() = c;
  }
  custom.mutable_model()->set_custom(true);
  custom.mutable_model()->set_file_format("q8_0");
  *custom.mutable_model()->mutable_shape() = *FindModel(quick_.spec, "quick-target");
  const Verdict v = Verifier().Verify(Sign(custom), kNow);
  ASSERT_TRUE(v.accepted) << v.message;
  EXPECT_FALSE(v.ranked);
  EXPECT_EQ(v.score.score, 0);
}

}  // namespace
}  // namespace aiscore
