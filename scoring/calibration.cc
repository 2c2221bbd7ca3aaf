#include "scoring/calibration.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aiscore {
namespace {

bool FinitePositive(double x) { return std::isfinite(x) && x > 0; }

double Median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

struct DecodeFit {
  double overhead_seconds = 0;
  double bandwidth = 0;
};

// seconds = a + bytes / BW by least squares on relative residuals (weights
// 1 / seconds^2), a >= 0; through the origin when the intercept would be
// negative or the bytes do not vary.
DecodeFit FitDecode(const std::vector<DecodeSample>& samples) {
  double sw = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const DecodeSample& s : samples) {
    const double y = 1 / s.tokens_per_second;
    const double w = 1 / (y * y);
    sw += w;
    sx += w * s.bytes_per_token;
    sy += w * y;
    sxx += w * s.bytes_per_token * s.bytes_per_token;
    sxy += w * s.bytes_per_token * y;
  }
  const double det = sw * sxx - sx * sx;
  if (samples.size() >= 2 && det > 1e-12 * sw * sxx) {
    const double slope = (sw * sxy - sx * sy) / det;
    const double intercept = (sy - slope * sx) / sw;
    if (intercept >= 0 && slope > 0) return {intercept, 1 / slope};
  }
  return {0, sxx / sxy};  // through the origin: slope = sxy / sxx
}

double FitPrefill(const std::vector<PrefillSample>& samples) {
  std::vector<double> rates;
  for (const PrefillSample& s : samples) rates.push_back(s.flops_per_token * s.tokens_per_second);
  return Median(rates);
}

double Ape(double predicted, double measured) { return std::abs(predicted / measured - 1); }

std::optional<double> Mean(const std::vector<double>& v) {
  if (v.empty()) return std::nullopt;
  double sum = 0;
  for (double x : v) sum += x;
  return sum / static_cast<double>(v.size());
}

int Results(const DeviceSamples& d) {
  int n = 0;
  for (const DecodeSample& s : d.decode) n = std::max(n, s.results);
  for (const PrefillSample& s : d.prefill) n = std::max(n, s.results);
  return n;
}

}  // namespace

absl::StatusOr<DeviceModel> FitDevice(const DeviceSamples& d) {
  if (d.decode.empty() || d.prefill.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("device '", d.device, "' needs decode and prefill measurements to be fitted"));
  }
  for (const DecodeSample& s : d.decode) {
    if (!FinitePositive(s.bytes_per_token) || !FinitePositive(s.tokens_per_second)) {
      return absl::InvalidArgumentError(
          absl::StrCat("device '", d.device, "': a decode sample is not finite and positive"));
    }
  }
  for (const PrefillSample& s : d.prefill) {
    if (!FinitePositive(s.tokens) || !FinitePositive(s.flops_per_token) ||
        !FinitePositive(s.weight_bytes) || !FinitePositive(s.tokens_per_second)) {
      return absl::InvalidArgumentError(
          absl::StrCat("device '", d.device, "': a prefill sample is not finite and positive"));
    }
  }
  const DecodeFit decode = FitDecode(d.decode);
  DeviceModel m;
  m.overhead_seconds = decode.overhead_seconds;
  m.bandwidth = decode.bandwidth;
  m.flops = FitPrefill(d.prefill);
  m.results = Results(d);
  m.basis = absl::StrCat("fit to ", m.results, " results of ", d.device);
  return m;
}

double PredictDecodeRate(const DeviceModel& model, double bytes_per_token) {
  return 1 / (model.overhead_seconds + bytes_per_token / model.bandwidth);
}

double PredictPrefillRate(const DeviceModel& model, double tokens, double flops_per_token,
                          double weight_bytes) {
  const double seconds =
      std::max(tokens * flops_per_token / model.flops, weight_bytes / model.bandwidth);
  return tokens / seconds;
}

Calibration Calibration::Build(const std::vector<DeviceSamples>& devices) {
  Calibration c;
  for (const DeviceSamples& d : devices) {
    absl::StatusOr<DeviceModel> fit = FitDevice(d);
    if (!fit.ok()) continue;
    c.fits_[d.device] = *fit;
    c.specs_[d.device] = d.spec;
  }
  std::vector<double> decode_loco, prefill_loco, decode_lodo, prefill_lodo;
  for (const DeviceSamples& d : devices) {
    if (!c.fits_.count(d.device)) continue;
    DeviceErrors& mine = c.device_errors_[d.device];
    // Leave one case out: refit without it, predict it.
    std::vector<double> decode_errors, prefill_errors;
    if (d.decode.size() >= 3) {
      for (size_t i = 0; i < d.decode.size(); ++i) {
        std::vector<DecodeSample> rest = d.decode;
        rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i));
        const DecodeFit fit = FitDecode(rest);
        const DeviceModel m{fit.overhead_seconds, fit.bandwidth, 1, 0, ""};
        decode_errors.push_back(
            Ape(PredictDecodeRate(m, d.decode[i].bytes_per_token), d.decode[i].tokens_per_second));
      }
    }
    if (d.prefill.size() >= 3) {
      const DeviceModel& fitted = c.fits_.at(d.device);
      for (size_t i = 0; i < d.prefill.size(); ++i) {
        std::vector<PrefillSample> rest = d.prefill;
        rest.erase(rest.begin() + static_cast<std::ptrdiff_t>(i));
        DeviceModel m = fitted;
        m.flops = FitPrefill(rest);
        const PrefillSample& s = d.prefill[i];
        prefill_errors.push_back(Ape(PredictPrefillRate(m, s.tokens, s.flops_per_token,
                                                        s.weight_bytes),
                                     s.tokens_per_second));
      }
    }
    mine.decode = Mean(decode_errors);
    mine.prefill = Mean(prefill_errors);
    decode_loco.insert(decode_loco.end(), decode_errors.begin(), decode_errors.end());
    prefill_loco.insert(prefill_loco.end(), prefill_errors.begin(), prefill_errors.end());
  }
  // Leave one device out: predict each fitted device with a table row from
  // the others' efficiencies.
  int devices_predicted = 0;
  for (const DeviceSamples& d : devices) {
    if (!c.fits_.count(d.device) || d.spec == nullptr) continue;
    const Efficiency e = c.EfficiencyOf(d.spec->family, d.device);
    if (e.devices == 0) continue;
    ++devices_predicted;
    const DeviceModel m{e.overhead_seconds, d.spec->memory_bandwidth * e.bandwidth,
                        d.spec->fp16_flops * e.compute, 0, ""};
    for (const DecodeSample& s : d.decode) {
      decode_lodo.push_back(Ape(PredictDecodeRate(m, s.bytes_per_token), s.tokens_per_second));
    }
    for (const PrefillSample& s : d.prefill) {
      prefill_lodo.push_back(Ape(PredictPrefillRate(m, s.tokens, s.flops_per_token, s.weight_bytes),
                                 s.tokens_per_second));
    }
  }
  c.errors_.decode_leave_one_case_out = Mean(decode_loco);
  c.errors_.prefill_leave_one_case_out = Mean(prefill_loco);
  c.errors_.decode_leave_one_device_out = Mean(decode_lodo);
  c.errors_.prefill_leave_one_device_out = Mean(prefill_lodo);
  c.errors_.decode_cases = static_cast<int>(decode_loco.size());
  c.errors_.prefill_cases = static_cast<int>(prefill_loco.size());
  c.errors_.devices = devices_predicted;
  return c;
}

Efficiency Calibration::EfficiencyOf(std::string_view family, std::string_view exclude) const {
  for (const bool whole_family : {true, false}) {
    if (whole_family && family.empty()) continue;
    std::vector<double> bandwidth, compute, overhead;
    for (const auto& [device, fit] : fits_) {
      const HardwareSpec* spec = specs_.at(device);
      if (spec == nullptr || device == exclude) continue;
      if (whole_family && spec->family != family) continue;
      bandwidth.push_back(fit.bandwidth / spec->memory_bandwidth);
      compute.push_back(fit.flops / spec->fp16_flops);
      overhead.push_back(fit.overhead_seconds);
    }
    if (bandwidth.empty()) continue;
    Efficiency e;
    e.bandwidth = Median(bandwidth);
    e.compute = Median(compute);
    e.overhead_seconds = Median(overhead);
    e.devices = static_cast<int>(bandwidth.size());
    e.scope = whole_family ? "family " + std::string(family) : std::string("all fitted GPUs");
    return e;
  }
  Efficiency defaults;
  defaults.scope = "the reference device's assumptions";
  return defaults;
}

std::optional<DeviceModel> Calibration::ModelOf(std::string_view device,
                                                const HardwareSpec* spec) const {
  if (auto it = fits_.find(device); it != fits_.end()) return it->second;
  if (spec == nullptr) return std::nullopt;
  const Efficiency e = EfficiencyOf(spec->family);
  DeviceModel m;
  m.overhead_seconds = e.overhead_seconds;
  m.bandwidth = spec->memory_bandwidth * e.bandwidth;
  m.flops = spec->fp16_flops * e.compute;
  m.results = 0;
  m.basis = e.devices == 0
                ? absl::StrFormat("spec table x %s (%.0f%% of bandwidth, %.0f%% of FP16 compute; "
                                  "no GPU results yet)",
                                  e.scope, 100 * e.bandwidth, 100 * e.compute)
                : absl::StrFormat("spec table x median efficiency of %s (%d GPUs: %.0f%% of "
                                  "bandwidth, %.0f%% of FP16 compute)",
                                  e.scope, e.devices, 100 * e.bandwidth, 100 * e.compute);
  return m;
}

}  // namespace aiscore
