#include "collector/service/predictor.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/quant/format.h"
#include "collector/service/stored_result.h"
#include "collector/verify/device_limits.h"
#include "scoring/memory_model.h"
#include "scoring/model_presets.h"
#include "scoring/reference_values.h"
#include "suites/suite_loader.h"

namespace aiscore::collector {
namespace {

// The table row named exactly `name` (leaderboards store row names).
const HardwareSpec* RowNamed(std::string_view name) {
  for (const HardwareSpec& row : HardwareTable()) {
    if (row.name == name) return &row;
  }
  return nullptr;
}

v1::Estimate MakeEstimate(double value, std::optional<double> error) {
  v1::Estimate e;
  e.set_value(value);
  e.set_relative_error(error.value_or(0));
  e.set_error_measured(error.has_value());
  return e;
}

}  // namespace

namespace {

// Adds one measurement of a case of `workload` on `shape` in `format` (a
// metric's mean, or the peak memory) to `inputs`: decode and prefill rates,
// the speculative workload's draft step time (a decode of the draft model),
// and the peak. Models under 1 GiB of weights are left out.
void AddMeasurement(const v1::SuiteSpec& suite, const v1::Workload& workload,
                    const v1::ModelShape& shape, const std::string& format,
                    const std::string& metric_name, double value, int results,
                    const std::string& device, const std::string& backend,
                    CalibrationInputs* inputs) {
  if (!(value > 0) || !std::isfinite(value)) return;
  absl::StatusOr<double> weight_bytes = WeightBytesPerToken(shape, format);
  if (!weight_bytes.ok() || *weight_bytes < kMinPhysicsWeightBytes) return;
  const bool speculative = workload.kind() == v1::WORKLOAD_KIND_SPECULATIVE;
  if (metric_name == kPeakMemoryMetric) {
    if (speculative) return;  // two models: their sum is not modelled here
    absl::StatusOr<MemoryEstimate> modelled =
        EstimateMemory(shape, format, workload.prompt_tokens() + workload.generate_tokens(),
                       MemoryCalibration{0, "none"});
    if (modelled.ok()) {
      inputs->overheads[backend].push_back(value - static_cast<double>(modelled->total_bytes));
    }
    return;
  }
  const v1::MetricSpec* metric = nullptr;
  for (const v1::MetricSpec& spec : workload.metrics()) {
    if (spec.name() == metric_name) metric = &spec;
  }
  if (metric == nullptr) return;
  DeviceSamples& d = inputs->devices[device];
  d.device = device;
  d.spec = RowNamed(device);
  if (metric->kind() == v1::METRIC_KIND_DECODE_RATE && !speculative) {
    const double bytes = *weight_bytes + KvBytesPerToken(shape) * MeanDecodeContext(workload);
    d.decode.push_back(DecodeSample{bytes, value, results});
  } else if (metric->kind() == v1::METRIC_KIND_PREFILL_RATE && !speculative) {
    const double tokens = static_cast<double>(workload.prompt_tokens());
    const double flops_per_token = ForwardFlops(shape, workload.prompt_tokens(), 0) / tokens;
    d.prefill.push_back(PrefillSample{tokens, flops_per_token, *weight_bytes, value, results});
  } else if (metric->kind() == v1::METRIC_KIND_DRAFT_STEP_TIME) {
    // A draft token: one decode step of the draft model at the mean depth.
    const v1::ModelShape* draft = FindModel(suite, workload.draft_model());
    if (draft == nullptr) return;
    absl::StatusOr<double> draft_bytes = WeightBytesPerToken(*draft, format);
    if (!draft_bytes.ok() || *draft_bytes < kMinPhysicsWeightBytes) return;
    const double bytes = *draft_bytes + KvBytesPerToken(*draft) * MeanDecodeContext(workload);
    d.decode.push_back(DecodeSample{bytes, 1 / value, results});
  }
}

const v1::Workload* FindWorkload(const v1::SuiteSpec& suite, std::string_view name) {
  for (const v1::Workload& w : suite.workloads()) {
    if (w.name() == name) return &w;
  }
  return nullptr;
}

std::map<std::string, LoadedSuite> BuiltInSuites() {
  std::map<std::string, LoadedSuite> suites;
  for (const std::string& name : BuiltInSuiteNames()) {
    if (absl::StatusOr<LoadedSuite> s = LoadBuiltInSuite(name); s.ok()) suites[name] = *std::move(s);
  }
  return suites;
}

}  // namespace

CalibrationInputs CalibrationInputsFrom(const std::vector<CaseMean>& means,
                                        const std::vector<StoredResult>& custom) {
  CalibrationInputs inputs;
  const std::map<std::string, LoadedSuite> suites = BuiltInSuites();
  for (const CaseMean& m : means) {
    const auto suite = suites.find(m.suite);
    const size_t slash = m.case_name.find('/');
    if (suite == suites.end() || slash == std::string::npos) continue;
    const v1::Workload* workload = FindWorkload(suite->second.spec, m.case_name.substr(0, slash));
    if (workload == nullptr) continue;
    const v1::ModelShape* shape = FindModel(suite->second.spec, workload->model());
    if (shape == nullptr) continue;
    AddMeasurement(suite->second.spec, *workload, *shape, m.case_name.substr(slash + 1), m.metric,
                   m.mean, static_cast<int>(m.results), m.gpu, m.backend, &inputs);
  }
  // Custom models: one result at a time, the shape from its envelope.
  for (const StoredResult& stored : custom) {
    v1::SignedResult envelope;
    v1::RunResult r;
    if (!envelope.ParseFromString(stored.envelope) || !r.ParseFromString(envelope.payload()) ||
        !r.model().custom()) {
      continue;
    }
    const auto suite = suites.find(r.suite().name());
    if (suite == suites.end()) continue;
    for (const v1::CaseResult& c : r.cases()) {
      if (c.status() != v1::CASE_STATUS_OK) continue;
      const v1::Workload* workload = FindWorkload(suite->second.spec, c.workload());
      if (workload == nullptr) continue;
      for (const v1::Measurement& m : c.measurements()) {
        AddMeasurement(suite->second.spec, *workload, r.model().shape(), r.model().file_format(),
                       m.name(), m.median(), 1, stored.gpu, stored.backend, &inputs);
      }
      AddMeasurement(suite->second.spec, *workload, r.model().shape(), r.model().file_format(),
                     kPeakMemoryMetric, static_cast<double>(c.peak_memory_bytes()), 1, stored.gpu,
                     stored.backend, &inputs);
    }
  }
  return inputs;
}

MemoryCalibration MemoryCalibrationOf(const CalibrationInputs& inputs, const std::string& backend) {
  const auto it = inputs.overheads.find(backend);
  if (it == inputs.overheads.end() || it->second.empty()) return MemoryCalibration{};
  std::vector<double> v = it->second;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  const double median = n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
  return MemoryCalibration{
      static_cast<int64_t>(std::max(0.0, median)),
      absl::StrFormat("median of %d measured peaks on %s", static_cast<int>(n), backend)};
}

Predictor::Predictor(ResultStore* store, absl::Duration refresh)
    : store_(store), refresh_(refresh) {}

absl::Status Predictor::Refresh() {
  absl::StatusOr<std::vector<CaseMean>> means = store_->CaseMeans();
  if (!means.ok()) return means.status();
  std::vector<StoredResult> custom;
  if (absl::Status s = store_->ForEachCustomResult([&custom](const StoredResult& r) {
        custom.push_back(r);
        return absl::OkStatus();
      });
      !s.ok()) {
    return s;
  }
  const CalibrationInputs inputs = CalibrationInputsFrom(*means, custom);
  std::vector<DeviceSamples> devices;
  for (const auto& [name, d] : inputs.devices) devices.push_back(d);
  auto fitted = std::make_shared<Fitted>();
  fitted->speed = Calibration::Build(devices);
  for (const std::string backend : {"cuda", "cpu"}) {
    fitted->memory[backend] = MemoryCalibrationOf(inputs, backend);
  }
  std::lock_guard<std::mutex> lock(mu_);
  current_ = std::move(fitted);
  built_ = absl::Now();
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<const Predictor::Fitted>> Predictor::Current() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ != nullptr && absl::Now() - built_ < refresh_) return current_;
  }
  std::unique_lock<std::mutex> rebuilding(refresh_mu_, std::try_to_lock);
  if (!rebuilding.owns_lock()) {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ != nullptr) return current_;  // another thread is rebuilding: use the last one
    // None yet: wait for the first build.
  }
  if (!rebuilding.owns_lock()) rebuilding.lock();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ != nullptr && absl::Now() - built_ < refresh_) return current_;
  }
  if (absl::Status s = Refresh(); !s.ok()) return s;
  std::lock_guard<std::mutex> lock(mu_);
  return current_;
}

absl::StatusOr<v1::PredictResponse> Predictor::Predict(const v1::PredictRequest& request) {
  // The device.
  HardwareSpec figures;
  const HardwareSpec* spec = nullptr;
  std::string device;
  switch (request.gpu().gpu_case()) {
    case v1::GpuSelector::kName: {
      const std::string& name = request.gpu().name();
      spec = RowNamed(name);
      if (spec == nullptr) spec = MatchHardware(name, 0);
      if (spec != nullptr) {
        device = spec->name;
      } else if (name.starts_with("CPU: ")) {
        device = name;  // a CPU the store has results of
      } else {
        return absl::NotFoundError(absl::StrCat(
            "no GPU named '", name,
            "' in the hardware table (docs/hardware.md); give its figures instead (memory, "
            "bandwidth, FP16 rate), or a name with its memory variant such as 'RTX 4060 Ti 16GB'"));
      }
      break;
    }
    case v1::GpuSelector::kFigures: {
      const v1::GpuFigures& f = request.gpu().figures();
      if (!(f.memory_bytes() > 0) || !(f.memory_bandwidth() > 0) || !(f.fp16_flops() > 0) ||
          !std::isfinite(f.memory_bandwidth()) || !std::isfinite(f.fp16_flops())) {
        return absl::InvalidArgumentError(
            "GPU figures need a positive memory size, memory bandwidth and FP16 rate");
      }
      figures.name = "custom";
      figures.family = absl::AsciiStrToLower(f.family());
      figures.memory_bytes = f.memory_bytes();
      figures.memory_bandwidth = f.memory_bandwidth();
      figures.fp16_flops = f.fp16_flops();
      spec = &figures;
      device = "custom";
      break;
    }
    default:
      return absl::InvalidArgumentError("the request names no GPU (a name or its figures)");
  }

  // The model.
  v1::ModelShape shape;
  switch (request.model().model_case()) {
    case v1::ModelSelector::kPreset: {
      const ModelPresetEntry* preset = FindModelPreset(request.model().preset());
      if (preset == nullptr) {
        std::string names;
        for (const ModelPresetEntry& p : ModelPresets())
          absl::StrAppend(&names, names.empty() ? "" : ", ", p.name);
        return absl::NotFoundError(
            absl::StrCat("no model preset '", request.model().preset(), "'; presets: ", names));
      }
      shape = preset->shape;
      break;
    }
    case v1::ModelSelector::kShape:
      shape = request.model().shape();
      break;
    default:
      return absl::InvalidArgumentError("the request names no model (a preset or a shape)");
  }
  const std::string format = absl::AsciiStrToLower(request.format());
  if (!FormatFromName(format).ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown format '", request.format(), "'; use f16, q8_0, q4_k or q2_k"));
  }
  if (request.context_tokens() < 0) {
    return absl::InvalidArgumentError("context_tokens must not be negative");
  }
  const int64_t context =
      request.context_tokens() == 0 ? kDefaultContextTokens : request.context_tokens();
  absl::StatusOr<std::shared_ptr<const Fitted>> fitted = Current();
  if (!fitted.ok()) return fitted.status();
  const Calibration* calibration = &(*fitted)->speed;
  const MemoryCalibration& memory_calibration =
      (*fitted)->memory.at(device.starts_with("CPU: ") ? "cpu" : "cuda");
  absl::StatusOr<MemoryEstimate> memory =
      EstimateMemory(shape, format, context, memory_calibration);
  if (!memory.ok()) return memory.status();
  std::optional<DeviceModel> model = calibration->ModelOf(device, spec);
  if (!model.has_value()) {
    return absl::NotFoundError(
        absl::StrCat("no results of '", device, "' and no figures to derive it from"));
  }

  absl::StatusOr<double> weight_bytes = WeightBytesPerToken(shape, format);
  if (!weight_bytes.ok()) return weight_bytes.status();
  const double decode_bytes = *weight_bytes + KvBytesPerToken(shape) * static_cast<double>(context);
  const double flops_per_token = ForwardFlops(shape, context, 0) / static_cast<double>(context);
  const double decode = PredictDecodeRate(*model, decode_bytes);
  const double prefill =
      PredictPrefillRate(*model, static_cast<double>(context), flops_per_token, *weight_bytes);

  // Errors: the device's own leave-one-case-out when it is fitted, else the
  // leave-one-device-out of the whole calibration.
  std::optional<double> decode_error, prefill_error;
  const Calibration::Errors& all = calibration->errors();
  if (auto it = calibration->device_errors().find(device);
      model->results > 0 && it != calibration->device_errors().end()) {
    decode_error = it->second.decode;
    prefill_error = it->second.prefill;
  } else {
    decode_error = all.decode_leave_one_device_out;
    prefill_error = all.prefill_leave_one_device_out;
  }

  v1::PredictResponse response;
  const int64_t device_memory = spec != nullptr ? spec->memory_bytes : 0;
  response.set_fits(device_memory > 0 && Fits(*memory, device_memory));
  response.set_gpu_memory_bytes(device_memory);
  v1::MemoryBreakdown* m = response.mutable_memory();
  m->set_weights_bytes(memory->weights_bytes);
  m->set_kv_cache_bytes(memory->kv_cache_bytes);
  m->set_activations_bytes(memory->activations_bytes);
  m->set_overhead_bytes(memory->overhead_bytes);
  m->set_total_bytes(memory->total_bytes);
  *response.mutable_decode_tokens_per_second() = MakeEstimate(decode, decode_error);
  *response.mutable_prefill_tokens_per_second() = MakeEstimate(prefill, prefill_error);
  *response.mutable_time_to_first_token_seconds() =
      MakeEstimate(static_cast<double>(context) / prefill, prefill_error);
  response.set_basis(
      absl::StrCat(model->basis, "; runtime memory overhead: ", memory_calibration.basis));
  response.set_gpu(device);
  response.set_results(model->results);
  response.set_context_tokens(context);
  return response;
}

std::string Predictor::Report(const Fitted& fitted) {
  const Calibration& c = fitted.speed;
  auto percent = [](std::optional<double> e) {
    return e.has_value() ? absl::StrFormat("%.1f%%", 100 * *e) : std::string("-");
  };
  std::string out = absl::StrFormat("%-40s %8s %12s %7s %12s %7s %9s %8s %8s\n", "device",
                                    "results", "BW_eff GB/s", "of BW", "F_eff TFLOP/s", "of FP16",
                                    "overhead", "decode", "prefill");
  for (const auto& [device, fit] : c.fits()) {
    const HardwareSpec* row = RowNamed(device);
    const auto& e = c.device_errors().at(device);
    absl::StrAppend(
        &out,
        absl::StrFormat(
            "%-40s %8d %12.1f %7s %12.2f %7s %7.2fms %8s %8s\n", device, fit.results,
            fit.bandwidth / 1e9,
            row ? absl::StrFormat("%.0f%%", 100 * fit.bandwidth / row->memory_bandwidth)
                : std::string("-"),
            fit.flops / 1e12,
            row ? absl::StrFormat("%.0f%%", 100 * fit.flops / row->fp16_flops) : std::string("-"),
            1e3 * fit.overhead_seconds, percent(e.decode), percent(e.prefill)));
  }
  const Calibration::Errors& e = c.errors();
  absl::StrAppend(
      &out, absl::StrFormat("\n%d fitted devices. Mean absolute percentage error:\n"
                            "  leave one case out (within a GPU):  decode %s, prefill %s over "
                            "%d and %d measurements\n"
                            "  leave one GPU out (from its family): decode %s, prefill %s over "
                            "%d GPUs\n",
                            static_cast<int>(c.fits().size()), percent(e.decode_leave_one_case_out),
                            percent(e.prefill_leave_one_case_out), e.decode_cases, e.prefill_cases,
                            percent(e.decode_leave_one_device_out),
                            percent(e.prefill_leave_one_device_out), e.devices));
  for (const auto& [backend, memory] : fitted.memory) {
    absl::StrAppend(&out, absl::StrFormat("runtime memory overhead on %s: %.0f MiB (%s)\n", backend,
                                          memory.overhead_bytes / 1048576.0, memory.basis));
  }
  return out;
}

}  // namespace aiscore::collector
