// Calibration of speed predictions from measured results (DESIGN.md,
// "Calibration and prediction"; docs/scoring.md, "Prediction").
//
// Per device, from its measured cases:
//   decode:  seconds per token = a + bytes read per token / BW_eff, fitted by
//            least squares over every decode measurement (formats, models and
//            context depths: the bytes are the weights plus the KV cache read
//            at that depth), a >= 0;
//   prefill: F_eff = median over prefill measurements of FLOPs per token x
//            tokens per second; predicted seconds = FLOPs / F_eff, but never
//            less than the weights' bytes / BW_eff.
// A device with no measurements is predicted from the hardware table's
// figures times the median efficiency (BW_eff / table bandwidth, F_eff /
// table FP16 rate) and median overhead of the fitted devices of its family,
// else of all fitted devices, else of the reference device's assumptions
// (70% of bandwidth, 50% of compute, no overhead).
//
// Errors are measured, not assumed: leave-one-case-out (refit the device
// without one measurement, predict it) and leave-one-device-out (predict a
// device's measurements from the other devices' family efficiencies), each a
// mean absolute percentage error.
//
// Pure functions of their arguments; thread-safe.
#ifndef AISCORE_SCORING_CALIBRATION_H_
#define AISCORE_SCORING_CALIBRATION_H_

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aiscore/v1/suite.pb.h"
#include "scoring/hardware_table.h"

namespace aiscore {

// One decode measurement: what each token read and how fast tokens came.
struct DecodeSample {
  double bytes_per_token = 0;    // weights + KV cache at the depth, bytes
  double tokens_per_second = 0;  // measured
  int results = 1;               // stored results the figure summarizes
};

// One prefill measurement.
struct PrefillSample {
  double tokens = 0;             // prompt tokens of the pass
  double flops_per_token = 0;    // forward FLOPs of the prompt / its tokens
  double weight_bytes = 0;       // bytes of weights the pass reads
  double tokens_per_second = 0;  // measured
  int results = 1;
};

// A device's measurements.
struct DeviceSamples {
  std::string device;               // canonical name, as leaderboards show it
  const HardwareSpec* spec = nullptr;  // its hardware-table row, if any
  std::vector<DecodeSample> decode;
  std::vector<PrefillSample> prefill;
};

// What a device does, fitted or derived.
struct DeviceModel {
  double overhead_seconds = 0;  // a: per decoded token, seconds
  double bandwidth = 0;         // BW_eff, bytes/s
  double flops = 0;             // F_eff, FLOP/s
  int results = 0;              // stored results behind the figures (0: derived)
  std::string basis;            // "fit to 12 results of X", "spec table x median efficiency of ..."
};

// Least-squares fit of one device. InvalidArgument when it has no decode or no
// prefill sample, or a sample is not finite and positive.
absl::StatusOr<DeviceModel> FitDevice(const DeviceSamples& samples);

// Predicted decode tokens/s: 1 / (a + bytes / BW_eff).
double PredictDecodeRate(const DeviceModel& model, double bytes_per_token);
// Predicted prefill tokens/s of a pass over `tokens`:
// tokens / max(tokens x flops_per_token / F_eff, weight_bytes / BW_eff).
double PredictPrefillRate(const DeviceModel& model, double tokens, double flops_per_token,
                          double weight_bytes);

// Median efficiencies of a set of fitted devices with table rows.
struct Efficiency {
  double bandwidth = 0.7;  // BW_eff / table bandwidth
  double compute = 0.5;    // F_eff / table FP16 rate
  double overhead_seconds = 0;
  int devices = 0;         // fitted devices behind the medians (0: the defaults)
  std::string scope;       // "family ada", "all fitted GPUs", "the reference device's assumptions"
};

// Every device's fit, the efficiencies by family, and the errors measured.
class Calibration {
 public:
  // Fits every device with decode and prefill samples; the others are left out.
  static Calibration Build(const std::vector<DeviceSamples>& devices);

  // The model of `device` (a canonical name): its fit when it has one, else
  // `spec` (its table row, or explicit figures) x the family's median
  // efficiency. nullopt when it has neither a fit nor figures.
  std::optional<DeviceModel> ModelOf(std::string_view device, const HardwareSpec* spec) const;

  // Median efficiency of the fitted devices with table rows of `family`,
  // leaving out `exclude` (a device name; "" : none); when there are none, of
  // all of them; when there are none either, the defaults.
  Efficiency EfficiencyOf(std::string_view family, std::string_view exclude = "") const;

  // Mean absolute percentage errors, as fractions; nullopt when nothing could
  // be measured (fewer than 3 samples, or fewer than 2 fitted devices).
  struct Errors {
    std::optional<double> decode_leave_one_case_out;
    std::optional<double> prefill_leave_one_case_out;
    std::optional<double> decode_leave_one_device_out;
    std::optional<double> prefill_leave_one_device_out;
    int decode_cases = 0;   // measurements predicted for the leave-one-case-out figures
    int prefill_cases = 0;
    int devices = 0;        // devices predicted for the leave-one-device-out figures
  };
  const Errors& errors() const { return errors_; }
  // Per fitted device, its own leave-one-case-out decode and prefill errors.
  struct DeviceErrors {
    std::optional<double> decode;
    std::optional<double> prefill;
  };
  const std::map<std::string, DeviceErrors, std::less<>>& device_errors() const {
    return device_errors_;
  }
  const std::map<std::string, DeviceModel, std::less<>>& fits() const { return fits_; }

 private:
  std::map<std::string, DeviceModel, std::less<>> fits_;
  std::map<std::string, const HardwareSpec*, std::less<>> specs_;  // fitted devices' rows
  std::map<std::string, DeviceErrors, std::less<>> device_errors_;
  Errors errors_;
};

}  // namespace aiscore

#endif  // AISCORE_SCORING_CALIBRATION_H_
