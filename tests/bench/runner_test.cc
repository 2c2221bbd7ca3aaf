// The runner on the real CPU backend with the quick suite: every case is
// reported, in suite order, with statistics over raw samples; cases that
// cannot run say why (not selected, does not fit before or during the case,
// self-check failed) and the run goes on; speculative cases record figures
// that agree with each other.
#include "agent/bench/runner.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "absl/strings/str_format.h"
#include "agent/bench/report.h"
#include "agent/cpu/cpu_backend.h"
#include "agent/engine/speculative.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

using ::testing::HasSubstr;

// A backend that forwards to a CPU backend, with hooks to make it misbehave.
class HookedBackend : public Backend {
 public:
  HookedBackend() : cpu_(2) {}

  size_t available_override = 0;  // nonzero: AvailableMemory() reports this
  size_t allocation_limit = 0;    // nonzero: Allocate() of more fails
  float matmul_noise = 0;         // added to every MatMul output
  int synchronize_calls = 0;

  std::string name() const override { return "cpu"; }
  std::string device_name() const override { return "hooked " + cpu_.device_name(); }
  BackendDetails details() const override { return cpu_.details(); }
  size_t AvailableMemory() const override {
    return available_override ? available_override : cpu_.AvailableMemory();
  }
  absl::StatusOr<std::unique_ptr<BandwidthProbe>> CreateBandwidthProbe() override {
    struct FixedProbe : BandwidthProbe {
      absl::StatusOr<double> Measure() override { return 10e9; }
    };
    return std::make_unique<FixedProbe>();
  }
  int64_t PeakMemoryBytes() const override { return cpu_.PeakMemoryBytes(); }
  void ResetPeakMemory() override { cpu_.ResetPeakMemory(); }
  std::unique_ptr<DeviceTimer> CreateTimer() override { return cpu_.CreateTimer(); }
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    if (allocation_limit && bytes > allocation_limit) {
      return absl::ResourceExhaustedError("out of device memory (test hook)");
    }
    return cpu_.Allocate(bytes);
  }
  absl::Status CopyToDevice(void* d, const void* s, size_t n) override {
    return cpu_.CopyToDevice(d, s, n);
  }
  absl::Status CopyToHost(void* d, const void* s, size_t n) override {
    return cpu_.CopyToHost(d, s, n);
  }
  absl::StatusOr<ModelWeights> PrepareWeights(const ModelWeights& host) override {
    return cpu_.PrepareWeights(host);
  }
  void Embed(const WeightTensor& t, const int32_t* ids, int64_t n, float* out) override {
    cpu_.Embed(t, ids, n, out);
  }
  void RmsNorm(const float* x, const WeightTensor& w, int64_t n, int64_t d, float eps,
               float* out) override {
    cpu_.RmsNorm(x, w, n, d, eps, out);
  }
  void MatMul(const WeightTensor& w, const float* x, int64_t n, float* y) override {
    cpu_.MatMul(w, x, n, y);
    if (matmul_noise != 0) {
      for (int64_t i = 0; i < n * w.rows; ++i) y[i] += matmul_noise * ((i * 7919) % 13 - 6);
    }
  }
  int64_t KvCacheOffset(const AttentionShape& s, int64_t pos, int64_t g) const override {
    return cpu_.KvCacheOffset(s, pos, g);
  }
  void RopeAndStoreKv(float* q, float* k, const float* v, int64_t n, int64_t pos,
                      const AttentionShape& shape, uint16_t* kc, uint16_t* vc) override {
    cpu_.RopeAndStoreKv(q, k, v, n, pos, shape, kc, vc);
  }
  void Attention(const float* q, const uint16_t* kc, const uint16_t* vc, int64_t n, int64_t pos,
                 const AttentionShape& shape, float* out) override {
    cpu_.Attention(q, kc, vc, n, pos, shape, out);
  }
  void SwiGlu(const float* g, const float* u, int64_t count, float* out) override {
    cpu_.SwiGlu(g, u, count, out);
  }
  void Add(float* x, const float* y, int64_t count) override { cpu_.Add(x, y, count); }
  void Argmax(const float* x, int64_t n, int64_t cols, int32_t* out) override {
    cpu_.Argmax(x, n, cols, out);
  }
  absl::Status Synchronize() override {
    ++synchronize_calls;
    return cpu_.Synchronize();
  }

 private:
  CpuBackend cpu_;
};

class RecordingObserver : public RunObserver {
 public:
  void OnPlan(const std::vector<CasePlan>& plan, double estimated_seconds) override {
    planned = plan.size();
    estimate = estimated_seconds;
  }
  void OnCaseEnd(size_t index, const v1::CaseResult& result) override { ended.push_back(index); }
  size_t planned = 0;
  double estimate = -1;
  std::vector<size_t> ended;
};

LoadedSuite Quick() {
  absl::StatusOr<LoadedSuite> s = LoadSuite("quick");
  EXPECT_TRUE(s.ok()) << s.status();
  return *s;
}

const v1::CaseResult* FindCase(const v1::RunResult& r, const std::string& name) {
  for (const v1::CaseResult& c : r.cases()) {
    if (c.name() == name) return &c;
  }
  return nullptr;
}

TEST(RunnerTest, QuickSuiteReportsEveryCaseInSuiteOrder) {
  const LoadedSuite suite = Quick();
  CpuBackend backend(2);
  RecordingObserver observer;
  absl::StatusOr<v1::RunResult> r = RunSuite(suite, backend, {}, observer);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->suite().name(), "quick");
  EXPECT_EQ(r->suite().sha256(), suite.sha256);
  EXPECT_EQ(r->nonce().size(), 16u);
  EXPECT_GE(r->finished_at().seconds(), r->started_at().seconds());
  EXPECT_EQ(r->backend().name(), "cpu");
  EXPECT_GT(r->backend().memory_bandwidth(), 0);
  EXPECT_FALSE(r->hardware().cpu().model().empty());
  EXPECT_EQ(observer.planned, 12u);
  EXPECT_GT(observer.estimate, 0);
  EXPECT_EQ(observer.ended.size(), 12u);

  ASSERT_EQ(r->cases_size(), 12);
  int i = 0;
  for (const v1::Workload& w : suite.spec.workloads()) {
    for (const std::string& f : suite.spec.formats()) {
      const v1::CaseResult& c = r->cases(i++);
      EXPECT_EQ(c.name(), CaseName(w.name(), f));
      EXPECT_EQ(c.workload(), w.name());
      EXPECT_EQ(c.format(), f);
      EXPECT_EQ(c.model(), w.model());
      ASSERT_EQ(c.status(), v1::CASE_STATUS_OK) << c.name() << ": " << c.reason();
      EXPECT_EQ(c.self_check().status(), v1::SELF_CHECK_STATUS_PASSED);
      EXPECT_LE(c.self_check().nmse(), c.self_check().tolerance());
      EXPECT_EQ(c.warmup_runs(), suite.spec.timing().warmup_runs());
      EXPECT_GE(c.timed_runs(), 1);
      EXPECT_LE(c.timed_runs(), suite.spec.timing().repetitions());
      EXPECT_GT(c.peak_memory_bytes(), 0);
      EXPECT_GT(c.memory_required_bytes(), c.weights_bytes());
      ASSERT_EQ(c.measurements_size(), w.metrics_size());
      for (int m = 0; m < w.metrics_size(); ++m) {
        const v1::Measurement& x = c.measurements(m);
        EXPECT_EQ(x.name(), w.metrics(m).name());
        EXPECT_EQ(x.kind(), w.metrics(m).kind());
        EXPECT_EQ(x.unit(), UnitOf(x.kind()));
        ASSERT_EQ(x.samples_size(), c.timed_runs());
        for (double s : x.samples()) {
          // A fraction may be 0 (a break-even acceptance when speculation
          // pays at any acceptance); every other figure is positive.
          if (x.unit() == v1::UNIT_FRACTION) {
            EXPECT_TRUE(s >= 0 && s <= 1) << c.name() << " " << x.name();
          } else {
            EXPECT_TRUE(std::isfinite(s) && s > 0) << c.name() << " " << x.name();
          }
          EXPECT_GE(s, x.min());
          EXPECT_LE(s, x.max());
        }
        EXPECT_GE(x.median(), x.min());
        EXPECT_LE(x.median(), x.max());
        EXPECT_GE(x.stddev(), 0);
      }
    }
  }
}

TEST(RunnerTest, TimeToFirstTokenIsThePrefillTime) {
  const LoadedSuite suite = Quick();
  CpuBackend backend(2);
  RunObserver quiet;
  absl::StatusOr<v1::RunResult> r =
      RunSuite(suite, backend, {.formats = {"q4_k"}, .workloads = {"chat"}}, quiet);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::CaseResult* c = FindCase(*r, "chat/q4_k");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->status(), v1::CASE_STATUS_OK) << c->reason();
  const v1::Measurement& pp = c->measurements(0);
  const v1::Measurement& ttft = c->measurements(1);
  ASSERT_EQ(ttft.kind(), v1::METRIC_KIND_TIME_TO_FIRST_TOKEN);
  for (int i = 0; i < pp.samples_size(); ++i) {
    EXPECT_NEAR(pp.samples(i) * ttft.samples(i), 64.0, 1e-9);  // 64 prompt tokens
  }
}

TEST(RunnerTest, SpeculativeFiguresAgreeWithEachOther) {
  const LoadedSuite suite = Quick();
  CpuBackend backend(2);
  RunObserver quiet;
  absl::StatusOr<v1::RunResult> r =
      RunSuite(suite, backend, {.formats = {"q4_k"}, .workloads = {"spec"}}, quiet);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::CaseResult* c = FindCase(*r, "spec/q4_k");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->status(), v1::CASE_STATUS_OK) << c->reason();
  std::map<v1::MetricKind, const v1::Measurement*> by_kind;
  for (const v1::Measurement& m : c->measurements()) by_kind[m.kind()] = &m;
  for (v1::MetricKind kind :
       {v1::METRIC_KIND_EFFECTIVE_RATE, v1::METRIC_KIND_DRAFT_STEP_TIME,
        v1::METRIC_KIND_VERIFY_TIME, v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE,
        v1::METRIC_KIND_TARGET_STEP_TIME, v1::METRIC_KIND_COST_RATIO, v1::METRIC_KIND_VERIFY_RATIO,
        v1::METRIC_KIND_SPEEDUP, v1::METRIC_KIND_PREDICTED_SPEEDUP,
        v1::METRIC_KIND_REALIZED_ACCEPTANCE}) {
    ASSERT_TRUE(by_kind.count(kind)) << v1::MetricKind_Name(kind);
    ASSERT_EQ(by_kind[kind]->samples_size(), c->timed_runs());
  }
  const int64_t k = suite.spec.workloads(2).draft_tokens();
  const double alpha = suite.spec.workloads(2).acceptance_rate();
  auto sample = [&](v1::MetricKind kind, int i) { return by_kind[kind]->samples(i); };
  for (int i = 0; i < c->timed_runs(); ++i) {
    const double target_step = sample(v1::METRIC_KIND_TARGET_STEP_TIME, i);
    const double cost = sample(v1::METRIC_KIND_COST_RATIO, i);
    const double verify = sample(v1::METRIC_KIND_VERIFY_RATIO, i);
    EXPECT_NEAR(cost, sample(v1::METRIC_KIND_DRAFT_STEP_TIME, i) / target_step, 1e-12 * cost);
    EXPECT_NEAR(verify, sample(v1::METRIC_KIND_VERIFY_TIME, i) / target_step, 1e-12 * verify);
    const double speedup = sample(v1::METRIC_KIND_SPEEDUP, i);
    EXPECT_NEAR(speedup, sample(v1::METRIC_KIND_EFFECTIVE_RATE, i) * target_step, 1e-12 * speedup);
    EXPECT_DOUBLE_EQ(sample(v1::METRIC_KIND_PREDICTED_SPEEDUP, i),
                     SpeculativeSpeedup(k, alpha, cost, 1));
    EXPECT_DOUBLE_EQ(sample(v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE, i),
                     SpeculativeBreakEven(k, cost, verify));
    EXPECT_GT(cost, 0);
    EXPECT_GT(verify, 0);
    // The schedule decides, so every repetition realizes the same acceptance.
    EXPECT_EQ(sample(v1::METRIC_KIND_REALIZED_ACCEPTANCE, i),
              sample(v1::METRIC_KIND_REALIZED_ACCEPTANCE, 0));
  }
  const double realized = by_kind[v1::METRIC_KIND_REALIZED_ACCEPTANCE]->median();
  EXPECT_GT(realized, 0);
  EXPECT_LE(realized, 1);

  // The report's table of the predicted curve beside the measured point.
  const std::string table = FormatSpeculative(*r, suite.spec);
  EXPECT_THAT(table, HasSubstr("| spec/q4_k |"));
  EXPECT_THAT(table, HasSubstr("a=0.5"));
  EXPECT_THAT(table, HasSubstr("a=1.0"));
  EXPECT_THAT(table, HasSubstr(absl::StrFormat(
                         "%.2fx at a=%.2f", by_kind[v1::METRIC_KIND_SPEEDUP]->median(), realized)));
  const double c_median = by_kind[v1::METRIC_KIND_COST_RATIO]->median();
  EXPECT_THAT(table, HasSubstr(absl::StrFormat("%.2fx", SpeculativeSpeedup(k, 0.8, c_median, 1))));
  EXPECT_THAT(table,
              HasSubstr(absl::StrFormat("%.2fx", SpeculativeSpeedup(k, realized, c_median, 1))));
  EXPECT_EQ(std::count(table.begin(), table.end(), '\n'),
            2 + 2 + 2);  // note, blank, header, rule, 2 lines
  v1::RunResult without_spec = *r;
  without_spec.clear_cases();
  EXPECT_EQ(FormatSpeculative(without_spec, suite.spec), "");
}

TEST(RunnerTest, FiltersLeaveOtherCasesNotRun) {
  const LoadedSuite suite = Quick();
  CpuBackend backend(2);
  RunObserver quiet;
  absl::StatusOr<v1::RunResult> r =
      RunSuite(suite, backend, {.formats = {"q8_0"}, .workloads = {"chat"}}, quiet);
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->cases_size(), 12);
  for (const v1::CaseResult& c : r->cases()) {
    if (c.name() == "chat/q8_0") {
      EXPECT_EQ(c.status(), v1::CASE_STATUS_OK) << c.reason();
    } else {
      EXPECT_EQ(c.status(), v1::CASE_STATUS_NOT_RUN) << c.name();
      EXPECT_THAT(c.reason(), HasSubstr("not selected"));
      EXPECT_EQ(c.measurements_size(), 0);
    }
  }
  RunObserver quiet2;
  EXPECT_THAT(
      std::string(RunSuite(suite, backend, {.formats = {"q5_k"}}, quiet2).status().message()),
      HasSubstr("unknown format 'q5_k'"));
  EXPECT_THAT(
      std::string(RunSuite(suite, backend, {.workloads = {"chatty"}}, quiet2).status().message()),
      HasSubstr("unknown workload 'chatty'"));
}

TEST(RunnerTest, ClearlyTooLittleMemoryIsDoesNotFitWithoutTrying) {
  const LoadedSuite suite = Quick();
  HookedBackend backend;
  backend.available_override = 1 << 20;  // 1 MiB
  RunObserver quiet;
  absl::StatusOr<v1::RunResult> r =
      RunSuite(suite, backend, {.workloads = {"chat", "long"}}, quiet);
  ASSERT_TRUE(r.ok()) << r.status();
  for (const v1::CaseResult& c : r->cases()) {
    if (c.workload() == "spec") continue;
    EXPECT_EQ(c.status(), v1::CASE_STATUS_DOES_NOT_FIT) << c.name();
    EXPECT_THAT(c.reason(), HasSubstr("available"));
    EXPECT_EQ(c.timed_runs(), 0);
    EXPECT_EQ(c.warmup_runs(), 0);
  }
}

TEST(RunnerTest, AllocationFailureDuringTheCaseIsDoesNotFitAndTheRunGoesOn) {
  const LoadedSuite suite = Quick();
  HookedBackend backend;
  // The long workload's scratch (a batch of 512 tokens, about 14 MiB) needs more
  // than this; chat's (80 tokens) and the self-check's do not.
  backend.allocation_limit = 8 << 20;
  RunObserver quiet;
  absl::StatusOr<v1::RunResult> r =
      RunSuite(suite, backend, {.formats = {"q4_k"}, .workloads = {"chat", "long"}}, quiet);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::CaseResult* chat = FindCase(*r, "chat/q4_k");
  const v1::CaseResult* long_case = FindCase(*r, "long/q4_k");
  ASSERT_NE(chat, nullptr);
  ASSERT_NE(long_case, nullptr);
  EXPECT_EQ(chat->status(), v1::CASE_STATUS_OK) << chat->reason();
  EXPECT_EQ(long_case->status(), v1::CASE_STATUS_DOES_NOT_FIT);
  EXPECT_THAT(long_case->reason(), HasSubstr("test hook"));
}

TEST(RunnerTest, FailingSelfCheckIsNotTimed) {
  const LoadedSuite suite = Quick();
  HookedBackend backend;
  backend.matmul_noise = 0.05f;
  RunObserver quiet;
  absl::StatusOr<v1::RunResult> r = RunSuite(suite, backend, {.formats = {"f16"}}, quiet);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::CaseResult* c = FindCase(*r, "chat/f16");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->status(), v1::CASE_STATUS_SELF_CHECK_FAILED);
  EXPECT_EQ(c->self_check().status(), v1::SELF_CHECK_STATUS_FAILED);
  EXPECT_GT(c->self_check().nmse(), c->self_check().tolerance());
  EXPECT_THAT(c->reason(), HasSubstr("nmse"));
  EXPECT_EQ(c->timed_runs(), 0);
  EXPECT_EQ(c->measurements_size(), 0);
}

TEST(RunnerTest, TimeCapStopsAfterOneTimedRepetition) {
  LoadedSuite suite = Quick();
  suite.spec.mutable_timing()->set_max_case_seconds(1e-6);
  suite.spec.mutable_timing()->set_repetitions(50);
  suite.spec.mutable_timing()->set_warmup_runs(0);
  CpuBackend backend(2);
  RunObserver quiet;
  absl::StatusOr<v1::RunResult> r =
      RunSuite(suite, backend, {.formats = {"q2_k"}, .workloads = {"chat"}}, quiet);
  ASSERT_TRUE(r.ok()) << r.status();
  const v1::CaseResult* c = FindCase(*r, "chat/q2_k");
  ASSERT_NE(c, nullptr);
  ASSERT_EQ(c->status(), v1::CASE_STATUS_OK) << c->reason();
  EXPECT_EQ(c->timed_runs(), 1);
  EXPECT_EQ(c->warmup_runs(), 0);
  for (const v1::Measurement& m : c->measurements()) {
    EXPECT_EQ(m.samples_size(), 1);
    EXPECT_EQ(m.median(), m.samples(0));  // n = 1: median = min = max, stddev 0
    EXPECT_EQ(m.min(), m.max());
    EXPECT_EQ(m.stddev(), 0);
  }
}

}  // namespace
}  // namespace aiscore
