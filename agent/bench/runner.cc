#include "agent/bench/runner.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/bench/nvml.h"
#include "agent/bench/self_check.h"
#include "agent/bench/sysinfo.h"
#include "agent/engine/gguf_model.h"
#include "agent/engine/host_memory.h"
#include "agent/engine/model_weights.h"
#include "agent/engine/session.h"
#include "agent/engine/speculative.h"
#include "agent/engine/synthetic_weights.h"
#include "google/protobuf/util/time_util.h"
#include "scoring/reference_values.h"
#include "scoring/statistics.h"

namespace aiscore {
namespace {

using Clock = std::chrono::steady_clock;
using google::protobuf::util::TimeUtil;

constexpr int64_t kWarmupPrompt = 512;  // at most, per warm-up run
constexpr int64_t kWarmupGenerate = 8;  // at most, per warm-up run
constexpr int64_t kCalibrationTokens = 128;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

int32_t Argmax(const std::vector<float>& logits) {
  return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
}

bool IsOutOfMemory(const absl::Status& s) { return absl::IsResourceExhausted(s); }

// The formats of `plan` in plan order, each once; with `runnable_only`, only
// those with a case that will run.
std::vector<std::string> PlanFormats(const std::vector<CasePlan>& plan, bool runnable_only) {
  std::vector<std::string> formats;
  for (const CasePlan& c : plan) {
    if (runnable_only && (!c.selected || !c.not_run_reason.empty())) continue;
    if (std::find(formats.begin(), formats.end(), c.format_name) == formats.end()) {
      formats.push_back(c.format_name);
    }
  }
  return formats;
}

// The name under which synthesized weights are kept between cases.
std::string WeightsKey(const ModelConfig& model, std::string_view format) {
  return absl::StrCat(model.name, "/", std::string(format));
}

// Raw samples of one case, per metric kind.
struct CaseSamples {
  std::map<v1::MetricKind, std::vector<double>> by_kind;
  double decode_joules = 0;
  double decode_seconds = 0;  // while power was sampled
  int64_t decoded_tokens = 0;
  int power_samples = 0;

  void Add(v1::MetricKind kind, double value) { by_kind[kind].push_back(value); }
};

std::string Gib(int64_t bytes) { return absl::StrFormat("%.2f GiB", bytes / 1073741824.0); }

// Lower-case hex SHA-256 of a file, streamed.
absl::StatusOr<std::string> FileSha256(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  if (sodium_init() < 0) {
    std::fclose(f);
    return absl::InternalError("libsodium failed to initialize");
  }
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  std::vector<unsigned char> buffer(1 << 20);
  size_t n;
  while ((n = std::fread(buffer.data(), 1, buffer.size(), f)) > 0) {
    crypto_hash_sha256_update(&state, buffer.data(), n);
  }
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) return absl::DataLossError(absl::StrCat("cannot read ", path));
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&state, digest);
  std::string hex;
  for (unsigned char b : digest) absl::StrAppendFormat(&hex, "%02x", b);
  return hex;
}

// Runs the cases of one run, keeping the host weights of the current format.
class SuiteRun {
 public:
  SuiteRun(const LoadedSuite& suite, Backend& backend, const RunnerOptions& options,
           RunObserver& observer)
      : suite_(suite.spec), backend_(backend), options_(options), observer_(observer) {}

  absl::StatusOr<v1::RunResult> Run(const LoadedSuite& loaded);

 private:
  // Seconds of FLOP-bound work: FLOP/s of a prefill on a small model in `format`.
  double CalibrateFlops(Format format);
  v1::CaseResult RunCase(size_t index, const CasePlan& plan);
  // Loads (synthesizes) the weights of `model` in `format`, reusing the last.
  absl::StatusOr<ModelWeights> Weights(const ModelConfig& model, Format format);
  absl::Status TimeGenerate(const CasePlan& plan, Session& session, size_t index,
                            CaseSamples& samples, v1::CaseResult& result);
  absl::Status TimeSpeculative(const CasePlan& plan, Session& target, Session& draft, size_t index,
                               CaseSamples& samples, v1::CaseResult& result);
  // Repeats `repetition` as the suite's timing says; warm-ups first.
  absl::Status Repeat(size_t index, v1::CaseResult& result,
                      const std::function<absl::Status(bool timed)>& repetition);

  const v1::SuiteSpec& suite_;
  Backend& backend_;
  const RunnerOptions& options_;
  RunObserver& observer_;
  std::unique_ptr<Nvml> nvml_;
  std::map<std::string, v1::SelfCheck> self_checks_;  // by format name
  std::optional<ModelWeights> custom_;                // a person's own model
  // The weights last synthesized, kept while cases of the same format run.
  std::string cached_key_;
  std::optional<ModelWeights> cached_;
};

absl::StatusOr<ModelWeights> SuiteRun::Weights(const ModelConfig& model, Format format) {
  if (custom_) return *custom_;
  const std::string key = WeightsKey(model, FormatName(format));
  if (cached_key_ == key && cached_) return *cached_;
  cached_.reset();  // free the previous model first
  cached_key_.clear();
  absl::StatusOr<ModelWeights> w = SynthesizeWeightsFor(backend_, model, format, suite_.seed());
  if (!w.ok()) return w.status();
  cached_ = *w;
  cached_key_ = key;
  return *w;
}

double SuiteRun::CalibrateFlops(Format format) {
  absl::StatusOr<ModelConfig> config = ModelPreset("small");
  if (!config.ok()) return 0;
  absl::StatusOr<ModelWeights> w = SynthesizeWeightsFor(backend_, *config, format, suite_.seed());
  if (!w.ok()) return 0;
  absl::StatusOr<std::unique_ptr<Session>> s =
      Session::Create(&backend_, *w, {.max_context = kCalibrationTokens});
  if (!s.ok()) return 0;
  const std::vector<int32_t> tokens =
      SyntheticTokens(kCalibrationTokens, config->vocab_size, suite_.seed());
  double best = 0;
  for (int i = 0; i < 2; ++i) {  // the first pass also warms up
    (*s)->Reset();
    const Clock::time_point a = Clock::now();
    if (!(*s)->Forward(tokens, 0, Logits::kLast).ok()) return 0;
    best = std::max(best, ForwardFlops(ToModelShape(*config), kCalibrationTokens, 0) /
                              Seconds(a, Clock::now()));
  }
  return best;
}

absl::Status SuiteRun::Repeat(size_t index, v1::CaseResult& result,
                              const std::function<absl::Status(bool timed)>& repetition) {
  const v1::Timing& timing = suite_.timing();
  for (int i = 0; i < timing.warmup_runs(); ++i) {
    observer_.OnStep(index, "warm-up");
    if (absl::Status s = repetition(false); !s.ok()) return s;
    result.set_warmup_runs(result.warmup_runs() + 1);
  }
  double timed_seconds = 0;
  while (result.timed_runs() < timing.repetitions() &&
         (result.timed_runs() == 0 || timed_seconds < timing.max_case_seconds())) {
    observer_.OnStep(
        index, absl::StrCat("repetition ", result.timed_runs() + 1, "/", timing.repetitions()));
    const Clock::time_point a = Clock::now();
    if (absl::Status s = repetition(true); !s.ok()) return s;
    timed_seconds += Seconds(a, Clock::now());
    result.set_timed_runs(result.timed_runs() + 1);
  }
  return absl::OkStatus();
}

absl::Status SuiteRun::TimeGenerate(const CasePlan& plan, Session& session, size_t index,
                                    CaseSamples& samples, v1::CaseResult& result) {
  const v1::Workload& w = *plan.workload;
  const std::vector<int32_t> prompt =
      SyntheticTokens(w.prompt_tokens(), plan.model.vocab_size, suite_.seed());
  std::unique_ptr<DeviceTimer> timer = backend_.CreateTimer();
  const bool sample_power = nvml_ != nullptr && backend_.name() == "cuda";
  return Repeat(index, result, [&](bool timed) -> absl::Status {
    const int64_t n_prompt = timed ? w.prompt_tokens() : std::min(w.prompt_tokens(), kWarmupPrompt);
    const int64_t n_generate =
        timed ? w.generate_tokens() : std::min(w.generate_tokens(), kWarmupGenerate);
    session.Reset();
    timer->Start();
    absl::Status s = session.Forward(std::span(prompt.data(), n_prompt), 0, Logits::kLast);
    absl::StatusOr<double> prefill = timer->Stop();
    if (!s.ok()) return s;
    if (!prefill.ok()) return prefill.status();
    int32_t token = Argmax(session.logits());
    PowerSampler sampler;
    if (timed && sample_power) sampler.Start(*nvml_, options_.gpu_index).IgnoreError();
    double decode = 0;
    for (int64_t i = 0; i < n_generate; ++i) {
      timer->Start();
      s = session.Forward(std::span(&token, 1), session.cached_tokens(), Logits::kLast);
      absl::StatusOr<double> step = timer->Stop();
      if (!s.ok()) return s;
      if (!step.ok()) return step.status();
      decode += *step;
      token = Argmax(session.logits());
    }
    if (!timed) return absl::OkStatus();
    if (sample_power) {
      absl::StatusOr<PowerSummary> power = sampler.Stop();
      if (power.ok()) {
        samples.decode_joules += power->joules;
        samples.decode_seconds += power->seconds;
        samples.decoded_tokens += n_generate;
        samples.power_samples += power->samples;
      }
    }
    samples.Add(v1::METRIC_KIND_PREFILL_RATE, static_cast<double>(n_prompt) / *prefill);
    samples.Add(v1::METRIC_KIND_TIME_TO_FIRST_TOKEN, *prefill);
    samples.Add(v1::METRIC_KIND_DECODE_RATE, static_cast<double>(n_generate) / decode);
    return absl::OkStatus();
  });
}

absl::Status SuiteRun::TimeSpeculative(const CasePlan& plan, Session& target, Session& draft,
                                       size_t index, CaseSamples& samples, v1::CaseResult& result) {
  const v1::Workload& w = *plan.workload;
  const std::vector<int32_t> prompt =
      SyntheticTokens(w.prompt_tokens(), plan.model.vocab_size, suite_.seed());
  return Repeat(index, result, [&](bool timed) -> absl::Status {
    target.Reset();
    draft.Reset();
    SpeculativeOptions o;
    o.generate_tokens =
        timed ? w.generate_tokens() : std::min(w.generate_tokens(), kWarmupGenerate);
    o.draft_tokens = w.draft_tokens();
    o.acceptance = Acceptance::kSchedule;
    o.acceptance_rate = w.acceptance_rate();
    o.seed = suite_.seed();
    // The prompt's prefill is outside the timings: the workload measures decoding.
    absl::StatusOr<SpeculativeResult> r = DecodeSpeculatively(target, draft, prompt, o);
    if (!r.ok()) return r.status();
    if (!timed) return absl::OkStatus();
    samples.Add(v1::METRIC_KIND_EFFECTIVE_RATE, static_cast<double>(r->tokens) / r->seconds);
    samples.Add(v1::METRIC_KIND_DRAFT_STEP_TIME, r->draft_step_seconds);
    samples.Add(v1::METRIC_KIND_VERIFY_TIME, r->verify_seconds);
    samples.Add(v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE, r->break_even_acceptance);
    samples.Add(v1::METRIC_KIND_TARGET_STEP_TIME, r->target_step_seconds);
    samples.Add(v1::METRIC_KIND_COST_RATIO, r->cost_ratio);
    samples.Add(v1::METRIC_KIND_VERIFY_RATIO, r->verify_ratio);
    samples.Add(v1::METRIC_KIND_SPEEDUP, r->speedup);
    samples.Add(v1::METRIC_KIND_PREDICTED_SPEEDUP, r->predicted_speedup);
    samples.Add(v1::METRIC_KIND_REALIZED_ACCEPTANCE, r->acceptance);
    return absl::OkStatus();
  });
}

v1::CaseResult SuiteRun::RunCase(size_t index, const CasePlan& plan) {
  const Clock::time_point start = Clock::now();
  v1::CaseResult result;
  result.set_name(plan.name);
  result.set_workload(plan.workload->name());
  result.set_format(plan.format_name);
  result.set_model(custom_ ? std::filesystem::path(options_.custom_model).filename().string()
                           : plan.model.name);
  result.set_weights_bytes(plan.weights_bytes);
  result.set_memory_required_bytes(plan.memory_required_bytes);
  auto finish = [&](v1::CaseStatus status, std::string reason) {
    result.set_status(status);
    result.set_reason(std::move(reason));
    result.set_wall_seconds(Seconds(start, Clock::now()));
    if (status != v1::CASE_STATUS_OK) result.clear_measurements();
    return result;
  };
  if (!plan.selected) return finish(v1::CASE_STATUS_NOT_RUN, "not selected (--format, --workload)");
  if (!plan.not_run_reason.empty()) return finish(v1::CASE_STATUS_NOT_RUN, plan.not_run_reason);
  *result.mutable_self_check() = self_checks_[plan.format_name];
  if (result.self_check().status() != v1::SELF_CHECK_STATUS_PASSED) {
    return finish(v1::CASE_STATUS_SELF_CHECK_FAILED,
                  absl::StrCat("self-check failed: ", result.self_check().message()));
  }

  // Memory: the weights in host memory (unless the backend makes them in its
  // own), then everything on the device. Weights() frees the synthetic model
  // it holds before making another, so that model's bytes count as available
  // where it lies.
  const BackendDetails details = backend_.details();
  const int64_t held = cached_ ? static_cast<int64_t>(cached_->TotalBytes()) : 0;
  const bool held_on_device = details.host_memory || details.synthesizes_weights;
  const int64_t host = static_cast<int64_t>(AvailableHostMemory()) +
                       (details.host_memory || !details.synthesizes_weights ? held : 0);
  const int64_t device =
      static_cast<int64_t>(backend_.AvailableMemory()) + (held_on_device ? held : 0);
  if (!custom_ && !details.synthesizes_weights && host > 0 && plan.weights_bytes > host) {
    return finish(v1::CASE_STATUS_DOES_NOT_FIT,
                  absl::StrCat("the weights need ", Gib(plan.weights_bytes), " of host memory, ",
                               Gib(host), " available"));
  }
  if (device > 0 && plan.memory_required_bytes > device) {
    return finish(v1::CASE_STATUS_DOES_NOT_FIT,
                  absl::StrCat("needs ", Gib(plan.memory_required_bytes), " on ",
                               backend_.device_name(), ", ", Gib(device), " available"));
  }

  backend_.ResetPeakMemory();
  auto failed = [&](const absl::Status& s) {
    return finish(IsOutOfMemory(s) ? v1::CASE_STATUS_DOES_NOT_FIT : v1::CASE_STATUS_FAILED,
                  std::string(s.message()));
  };
  const SessionOptions session_options{.max_context = plan.context};
  CaseSamples samples;
  absl::StatusOr<ModelWeights> weights = Weights(plan.model, plan.format);
  if (!weights.ok()) return failed(weights.status());
  absl::StatusOr<std::unique_ptr<Session>> session =
      Session::Create(&backend_, *weights, session_options);
  if (!session.ok()) return failed(session.status());
  if (plan.draft) {
    absl::StatusOr<ModelWeights> draft_weights =
        SynthesizeWeightsFor(backend_, *plan.draft, plan.format, suite_.seed());
    if (!draft_weights.ok()) return failed(draft_weights.status());
    absl::StatusOr<std::unique_ptr<Session>> draft =
        Session::Create(&backend_, *draft_weights, session_options);
    if (!draft.ok()) return failed(draft.status());
    if (absl::Status s = TimeSpeculative(plan, **session, **draft, index, samples, result);
        !s.ok()) {
      return failed(s);
    }
  } else if (absl::Status s = TimeGenerate(plan, **session, index, samples, result); !s.ok()) {
    return failed(s);
  }
  result.set_peak_memory_bytes(backend_.PeakMemoryBytes());

  for (const v1::MetricSpec& m : plan.workload->metrics()) {
    const std::vector<double>& v = samples.by_kind[m.kind()];
    const SampleStats stats = Summarize(v);
    v1::Measurement* out = result.add_measurements();
    out->set_name(m.name());
    out->set_kind(m.kind());
    out->set_unit(UnitOf(m.kind()));
    out->set_median(stats.median);
    out->set_min(stats.min);
    out->set_max(stats.max);
    out->set_stddev(stats.stddev);
    for (double x : v) out->add_samples(x);
  }
  if (samples.decoded_tokens > 0 && samples.decode_seconds > 0) {
    v1::Energy* e = result.mutable_energy();
    e->set_mean_power_watts(samples.decode_joules / samples.decode_seconds);
    e->set_decode_joules_per_token(samples.decode_joules /
                                   static_cast<double>(samples.decoded_tokens));
    e->set_samples(samples.power_samples);
  }
  return finish(v1::CASE_STATUS_OK, "");
}

absl::StatusOr<v1::RunResult> SuiteRun::Run(const LoadedSuite& loaded) {
  v1::RunResult r;
  r.mutable_suite()->set_name(suite_.name());
  r.mutable_suite()->set_sha256(loaded.sha256);
  if (sodium_init() < 0) return absl::InternalError("libsodium failed to initialize");
  std::string nonce(16, '\0');
  randombytes_buf(nonce.data(), nonce.size());
  r.set_nonce(nonce);
  *r.mutable_started_at() = TimeUtil::GetCurrentTime();

  nvml_ = Nvml::Load();
  *r.mutable_hardware() = ProbeHardware(nvml_.get());
  *r.mutable_software() = ProbeSoftware();
  v1::BackendInfo* b = r.mutable_backend();
  b->set_name(backend_.name());
  b->set_device_name(backend_.device_name());
  b->set_threads(backend_.details().threads);
  b->set_isa(backend_.details().kernels);
  b->set_memory_bytes(static_cast<int64_t>(backend_.AvailableMemory()));
  absl::StatusOr<double> bandwidth = backend_.MeasureMemoryBandwidth();
  if (!bandwidth.ok()) return bandwidth.status();
  b->set_memory_bandwidth(*bandwidth);

  PlanOptions plan_options;
  plan_options.formats = options_.formats;
  plan_options.workloads = options_.workloads;
  if (!options_.custom_model.empty()) {
    absl::StatusOr<ModelWeights> w = LoadGgufModel(options_.custom_model);
    if (!w.ok()) return w.status();
    custom_ = *std::move(w);
    plan_options.custom_model = &custom_->config;
    plan_options.custom_format = custom_->format;
    plan_options.custom_weights_bytes = static_cast<int64_t>(custom_->TotalBytes());
    v1::ModelSource* m = r.mutable_model();
    m->set_custom(true);
    m->set_file_name(std::filesystem::path(options_.custom_model).filename().string());
    absl::StatusOr<std::string> sha = FileSha256(options_.custom_model);
    if (!sha.ok()) return sha.status();
    m->set_file_sha256(*sha);
    m->set_file_format(std::string(FormatName(custom_->format)));
    *m->mutable_shape() = ToModelShape(custom_->config);
  }
  absl::StatusOr<std::vector<CasePlan>> plan = PlanCases(suite_, plan_options);
  if (!plan.ok()) return plan.status();

  // Self-checks and compute calibration for every format that will run.
  std::map<std::string, double> flops;
  for (const std::string& f : PlanFormats(*plan, /*runnable_only=*/true)) {
    const Format format = *FormatFromName(f);
    self_checks_[f] = RunSelfCheck(backend_, format, suite_.seed());
    if (self_checks_[f].status() == v1::SELF_CHECK_STATUS_PASSED) flops[f] = CalibrateFlops(format);
  }
  std::vector<double> estimate(plan->size(), 0.0);
  double total = 0;
  for (size_t i = 0; i < plan->size(); ++i) {
    const CasePlan& c = (*plan)[i];
    if (self_checks_.count(c.format_name) &&
        self_checks_[c.format_name].status() == v1::SELF_CHECK_STATUS_PASSED) {
      estimate[i] = EstimateCaseSeconds(c, suite_.timing(), 0.8 * *bandwidth, flops[c.format_name]);
    }
    total += estimate[i];
  }
  observer_.OnPlan(*plan, total);

  // Cases run format by format, so each format's weights are made once;
  // results stay in suite order.
  std::vector<v1::CaseResult> results(plan->size());
  double done_estimate = 0, done_actual = 0;
  for (const std::string& f : PlanFormats(*plan, /*runnable_only=*/false)) {
    for (size_t i = 0; i < plan->size(); ++i) {
      const CasePlan& c = (*plan)[i];
      if (c.format_name != f) continue;
      double remaining = 0;
      for (size_t j = 0; j < plan->size(); ++j) {
        if (results[j].name().empty()) remaining += estimate[j];
      }
      if (done_estimate > 0) remaining *= done_actual / done_estimate;
      observer_.OnCaseStart(i, c, remaining);
      results[i] = RunCase(i, c);
      if (estimate[i] > 0) {
        done_estimate += estimate[i];
        done_actual += results[i].wall_seconds();
      }
      observer_.OnCaseEnd(i, results[i]);
    }
    cached_.reset();
    cached_key_.clear();
  }
  for (v1::CaseResult& c : results) *r.add_cases() = std::move(c);
  *r.mutable_finished_at() = TimeUtil::GetCurrentTime();
  return r;
}

}  // namespace

absl::StatusOr<v1::RunResult> RunSuite(const LoadedSuite& suite, Backend& backend,
                                       const RunnerOptions& options, RunObserver& observer) {
  SuiteRun run(suite, backend, options, observer);
  return run.Run(suite);
}

}  // namespace aiscore
