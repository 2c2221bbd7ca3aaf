// scoring/reference_values.h: the built-in suites' references agree with the
// reference device model; target-7b's figures match DESIGN.md's and hand
// computation; changing the reference device changes the values as physics
// says; the speculative figures are consistent; errors name what is wrong.
#include "scoring/reference_values.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "absl/status/statusor.h"
#include "agent/engine/speculative_formulas.h"
#include "tests/scoring/suite_fixture.h"

namespace aiscore {
namespace {

using ::testing::HasSubstr;

const v1::Workload& FindWorkload(const v1::SuiteSpec& suite, const std::string& name) {
  for (const v1::Workload& w : suite.workloads()) {
    if (w.name() == name) return w;
  }
  ADD_FAILURE() << "no workload " << name;
  return v1::Workload::default_instance();
}

double Value(const v1::SuiteSpec& suite, const std::string& workload, v1::MetricKind kind,
             const std::string& format) {
  absl::StatusOr<double> v = ReferenceValue(suite, FindWorkload(suite, workload), kind, format);
  EXPECT_TRUE(v.ok()) << v.status();
  return v.ok() ? *v : NAN;
}

// |a / b - 1|.
double RelativeDifference(double a, double b) { return std::fabs(a / b - 1); }

TEST(ReferenceValuesTest, SuiteV1AgreesWithItsReferenceDevice) {
  const absl::Status s = CheckReferenceValues(Suite("v1"));
  EXPECT_TRUE(s.ok()) << s;
}

TEST(ReferenceValuesTest, SuiteQuickAgreesWithItsReferenceDevice) {
  const absl::Status s = CheckReferenceValues(Suite("quick"));
  EXPECT_TRUE(s.ok()) << s << "\n(regenerate with aiscore_print_reference_values quick)";
}

TEST(ReferenceValuesTest, Target7bBytesPerTokenMatchTheDesign) {
  const v1::SuiteSpec suite = Suite("v1");
  const v1::ModelShape* target = FindModel(suite, "target-7b");
  ASSERT_NE(target, nullptr);
  // Matrices: 32 layers x (4096 x (2 x 4096 + 2 x 1024) + 3 x 4096 x 14336)
  // = 6,979,321,856, output head 32768 x 4096 = 134,217,728, one embedding row
  // 4096: 7,113,543,680 weights ("7.114 B"). Norms: 65 x 4096 F32 = 1,064,960 B.
  const double weights = 7113543680.0;
  const double norms = 1064960.0;
  struct Row {
    const char* format;
    double bits;
    double design_gb;  // DESIGN.md, "The basket"
  };
  for (const Row& row : {Row{"f16", 16, 14.23}, Row{"q8_0", 8.5, 7.56}, Row{"q4_k", 4.5, 4.00},
                         Row{"q2_k", 2.625, 2.33}}) {
    absl::StatusOr<double> bytes = WeightBytesPerToken(*target, row.format);
    ASSERT_TRUE(bytes.ok()) << bytes.status();
    EXPECT_EQ(*bytes, weights * row.bits / 8 + norms) << row.format;
    EXPECT_NEAR(*bytes / 1e9, row.design_gb, 0.006) << row.format;
  }
  EXPECT_EQ(*WeightBytesPerToken(*target, "q4_k"), 4002433280.0);
  EXPECT_EQ(KvBytesPerToken(*target), 128 * 1024);  // "KV cache: 128 KiB per token"
}

TEST(ReferenceValuesTest, Target7bChatQ4KByHand) {
  const v1::SuiteSpec suite = Suite("v1");
  // Decode at the mean context 512 + (128 + 1) / 2 = 576.5 tokens reads
  // 4,002,433,280 B of weights and 576.5 x 131,072 = 75,563,008 B of KV cache,
  // at 256 GB/s x 0.7 = 179.2 GB/s: 22.757 ms per token, 43.943 tokens/s.
  const double decode_bytes = 4002433280.0 + 75563008.0;
  const double tg128 = Value(suite, "chat", v1::METRIC_KIND_DECODE_RATE, "q4_k");
  EXPECT_LT(RelativeDifference(tg128, 179.2e9 / decode_bytes), 1e-12);
  EXPECT_NEAR(tg128, 43.9431, 1e-4);

  // Prefill of 512 tokens: 512 x 2 x 6,979,321,856 + 2 x 134,217,728 +
  // 4 x 128 x 32 x 32 x (512 x 513 / 2) = 7,215,947,710,464 FLOPs at
  // 40 TFLOP/s x 0.5: 0.3608 s, compute-bound (the 4.07 GB it reads take 23 ms).
  const double prefill_seconds = 7215947710464.0 / 20e12;
  const double ttft = Value(suite, "chat", v1::METRIC_KIND_TIME_TO_FIRST_TOKEN, "q4_k");
  EXPECT_LT(RelativeDifference(ttft, prefill_seconds), 1e-12);
  EXPECT_LT(RelativeDifference(Value(suite, "chat", v1::METRIC_KIND_PREFILL_RATE, "q4_k"),
                               512 / prefill_seconds),
            1e-12);
  // Compute-bound prefill is the same in every format.
  EXPECT_EQ(Value(suite, "chat", v1::METRIC_KIND_PREFILL_RATE, "f16"),
            Value(suite, "chat", v1::METRIC_KIND_PREFILL_RATE, "q2_k"));
}

TEST(ReferenceValuesTest, FewerBytesPerWeightDecodeFaster) {
  const v1::SuiteSpec suite = Suite("v1");
  double previous = 0;
  for (const char* format : {"f16", "q8_0", "q4_k", "q2_k"}) {
    const double rate = Value(suite, "chat", v1::METRIC_KIND_DECODE_RATE, format);
    EXPECT_GT(rate, previous) << format;
    // A deeper context reads more KV cache per token.
    EXPECT_LT(Value(suite, "long", v1::METRIC_KIND_DECODE_RATE, format), rate) << format;
    previous = rate;
  }
}

TEST(ReferenceValuesTest, DoublingBandwidthDoublesDecodeAndLeavesComputeBoundPrefill) {
  const v1::SuiteSpec suite = Suite("v1");
  v1::SuiteSpec faster = suite;
  faster.mutable_reference_device()->set_memory_bandwidth(
      2 * suite.reference_device().memory_bandwidth());
  // Twice the bandwidth at half the efficiency: the same effective 179.2 GB/s.
  v1::SuiteSpec same_effective = faster;
  same_effective.mutable_reference_device()->set_memory_efficiency(
      0.5 * suite.reference_device().memory_efficiency());
  for (const std::string& format : suite.formats()) {
    for (const char* workload : {"chat", "long"}) {
      const double base = Value(suite, workload, v1::METRIC_KIND_DECODE_RATE, format);
      EXPECT_LT(RelativeDifference(Value(faster, workload, v1::METRIC_KIND_DECODE_RATE, format),
                                   2 * base),
                1e-12)
          << workload << " " << format;
      EXPECT_LT(RelativeDifference(
                    Value(same_effective, workload, v1::METRIC_KIND_DECODE_RATE, format), base),
                1e-12);
      // v1's prefills are compute-bound on the reference device.
      EXPECT_EQ(Value(faster, workload, v1::METRIC_KIND_PREFILL_RATE, format),
                Value(suite, workload, v1::METRIC_KIND_PREFILL_RATE, format));
    }
    // Speculation is memory-bound too: draft and verification both halve.
    EXPECT_LT(RelativeDifference(Value(faster, "spec", v1::METRIC_KIND_EFFECTIVE_RATE, format),
                                 2 * Value(suite, "spec", v1::METRIC_KIND_EFFECTIVE_RATE, format)),
              1e-12);
  }
}

TEST(ReferenceValuesTest, DoublingComputeDoublesPrefillAndLeavesDecode) {
  const v1::SuiteSpec suite = Suite("v1");
  v1::SuiteSpec faster = suite;
  faster.mutable_reference_device()->set_fp16_flops(2 * suite.reference_device().fp16_flops());
  for (const std::string& format : suite.formats()) {
    EXPECT_LT(RelativeDifference(Value(faster, "chat", v1::METRIC_KIND_PREFILL_RATE, format),
                                 2 * Value(suite, "chat", v1::METRIC_KIND_PREFILL_RATE, format)),
              1e-12);
    EXPECT_LT(
        RelativeDifference(Value(faster, "chat", v1::METRIC_KIND_TIME_TO_FIRST_TOKEN, format),
                           0.5 * Value(suite, "chat", v1::METRIC_KIND_TIME_TO_FIRST_TOKEN, format)),
        1e-12);
    EXPECT_EQ(Value(faster, "chat", v1::METRIC_KIND_DECODE_RATE, format),
              Value(suite, "chat", v1::METRIC_KIND_DECODE_RATE, format));
  }
}

TEST(ReferenceValuesTest, PrefillBecomesMemoryBoundOnASlowMemory) {
  v1::SuiteSpec suite = Suite("v1");
  const v1::ModelShape* target = FindModel(suite, "target-7b");
  ASSERT_NE(target, nullptr);
  // 1 GB/s effective: the 14.23 GB of F16 weights alone take 14 s, far longer
  // than the 0.36 s of compute.
  suite.mutable_reference_device()->set_memory_bandwidth(1e9);
  suite.mutable_reference_device()->set_memory_efficiency(1);
  const double bytes = *WeightBytesPerToken(*target, "f16") + 512 * KvBytesPerToken(*target);
  EXPECT_LT(RelativeDifference(Value(suite, "chat", v1::METRIC_KIND_TIME_TO_FIRST_TOKEN, "f16"),
                               bytes / 1e9),
            1e-12);
}

TEST(ReferenceValuesTest, SpeculativeTokensPerStep) {
  EXPECT_DOUBLE_EQ(SpeculativeTokensPerStep(4, 1.0), 5);
  EXPECT_DOUBLE_EQ(SpeculativeTokensPerStep(4, 0.0), 1);
  EXPECT_DOUBLE_EQ(SpeculativeTokensPerStep(4, 0.8), (1 - std::pow(0.8, 5)) / (1 - 0.8));  // 3.3616
  EXPECT_DOUBLE_EQ(SpeculativeTokensPerStep(1, 0.5), 1.5);
}

TEST(ReferenceValuesTest, SpeculativeFiguresAreConsistent) {
  const v1::SuiteSpec suite = Suite("v1");
  const v1::Workload& spec = FindWorkload(suite, "spec");
  const v1::ModelShape* target = FindModel(suite, "target-7b");
  const v1::ModelShape* draft = FindModel(suite, "draft-1b");
  ASSERT_NE(target, nullptr);
  ASSERT_NE(draft, nullptr);
  EXPECT_EQ(MeanDecodeContext(spec), 576.5);
  for (const std::string& format : suite.formats()) {
    const double t_draft = Value(suite, "spec", v1::METRIC_KIND_DRAFT_STEP_TIME, format);
    const double t_verify = Value(suite, "spec", v1::METRIC_KIND_VERIFY_TIME, format);
    EXPECT_EQ(t_draft, *DecodeSeconds(suite.reference_device(), *draft, format, 576.5));
    EXPECT_EQ(t_verify, *ForwardSeconds(suite.reference_device(), *target, format, 5, 576));
    const double step = 4 * t_draft + t_verify;
    EXPECT_DOUBLE_EQ(Value(suite, "spec", v1::METRIC_KIND_EFFECTIVE_RATE, format),
                     SpeculativeTokensPerStep(4, 0.8) / step);
    // Speculation at the suite's acceptance beats plain decoding.
    const double plain = Value(suite, "chat", v1::METRIC_KIND_DECODE_RATE, format);
    EXPECT_GT(Value(suite, "spec", v1::METRIC_KIND_EFFECTIVE_RATE, format), plain);
    // At the break-even acceptance it equals plain decoding.
    const double a = Value(suite, "spec", v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE, format);
    EXPECT_GT(a, 0) << format;
    EXPECT_LT(a, 0.8) << format;
    EXPECT_LT(RelativeDifference(SpeculativeTokensPerStep(4, a) / step, plain), 1e-12) << format;
  }
}

TEST(ReferenceValuesTest, ADraftAsLargeAsTheTargetNeverPays) {
  v1::SuiteSpec suite = Suite("v1");
  suite.mutable_workloads(2)->set_draft_model("target-7b");
  const absl::StatusOr<double> a =
      ReferenceValue(suite, suite.workloads(2), v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE, "q4_k");
  EXPECT_EQ(a.status().code(), absl::StatusCode::kOutOfRange) << a.status();
  EXPECT_THAT(std::string(a.status().message()), HasSubstr("never pays"));
}

TEST(ReferenceValuesTest, ErrorsNameWhatIsWrong) {
  v1::SuiteSpec suite = Suite("v1");
  const v1::Workload& chat = suite.workloads(0);
  absl::StatusOr<double> v = ReferenceValue(suite, chat, v1::METRIC_KIND_DECODE_RATE, "q5_0");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("q5_0"));

  v = ReferenceValue(suite, chat, v1::METRIC_KIND_EFFECTIVE_RATE, "q4_k");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("WORKLOAD_KIND_GENERATE"));

  v1::Workload unknown_model = chat;
  unknown_model.set_model("target-70b");
  v = ReferenceValue(suite, unknown_model, v1::METRIC_KIND_DECODE_RATE, "q4_k");
  EXPECT_EQ(v.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("target-70b"));
}

TEST(ReferenceValuesTest, CheckFindsAWrongReference) {
  v1::SuiteSpec suite = Suite("v1");
  // chat / tg128 / q4_k: 43.9431 -> 43.99 (0.1% off).
  v1::Reference* reference = suite.mutable_workloads(0)->mutable_metrics(2)->mutable_references(2);
  ASSERT_EQ(reference->format(), "q4_k");
  reference->set_value(43.99);
  const absl::Status s = CheckReferenceValues(suite);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  const std::string message(s.message());
  for (const char* needle : {"'chat'", "'tg128'", "'q4_k'", "43.99", "43.943"}) {
    EXPECT_THAT(message, HasSubstr(needle));
  }
  // Within the tolerance (6 significant digits) passes.
  reference->set_value(43.9431 * (1 + 0.5 * kReferenceTolerance));
  EXPECT_TRUE(CheckReferenceValues(suite).ok());
}

TEST(ReferenceValuesTest, CheckFindsAMissingReference) {
  v1::SuiteSpec suite = Suite("v1");
  suite.mutable_workloads(1)->mutable_metrics(0)->mutable_references()->RemoveLast();
  const absl::Status s = CheckReferenceValues(suite);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()), HasSubstr("no reference for format 'q2_k'"));
}

}  // namespace
}  // namespace aiscore
