// Predictor: the collector's answer to "will model X at format Y run on GPU Z,
// and how fast?" (the Predict RPC; DESIGN.md "Calibration and prediction").
//
// Memory from scoring/memory_model.h; speeds from a scoring::Calibration built
// from the store's per-(device, case, metric) means (ResultStore::CaseMeans):
// each decode and prefill measurement of a suite model with at least 1 GiB of
// weights (smaller ones run from caches) becomes a sample of its device, with
// the bytes and FLOPs the suite's shapes give; so does each case of a custom
// model's result (a person's own GGUF), with its own shape; each case's mean peak memory
// gives a sample of the runtime overhead of its backend. The calibration is rebuilt when
// older than the refresh interval, by the first request that finds it stale
// (others meanwhile answer from the previous one), so fits follow new results.
//
// Thread-safety: every method may be called from any thread at once. Borrows
// the store, which must outlive it.
#ifndef AISCORE_COLLECTOR_SERVICE_PREDICTOR_H_
#define AISCORE_COLLECTOR_SERVICE_PREDICTOR_H_

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "aiscore/v1/collector.pb.h"
#include "collector/store/result_store.h"
#include "scoring/calibration.h"
#include "scoring/memory_model.h"

namespace aiscore::collector {

inline constexpr int64_t kDefaultContextTokens = 4096;

// What the store's means calibrate.
struct CalibrationInputs {
  // Each device's speed samples by its name (see the header comment): means
  // of suites this build does not know and of models under 1 GiB are left
  // out; a speculative workload gives its draft step time (a decode step of
  // the draft model) only.
  std::map<std::string, DeviceSamples> devices;
  // Per backend ("cuda", "cpu"), the runtime overhead each case's mean peak
  // memory shows: peak - (weights + KV cache + activations) as
  // scoring/memory_model.h models them for the case's model, format and
  // context (prompt + generated tokens), bytes.
  std::map<std::string, std::vector<double>> overheads;
};
// From the store's means of suite models, and from results of custom models
// (envelope included; their shapes are in it), each case a sample of its own.
CalibrationInputs CalibrationInputsFrom(const std::vector<CaseMean>& means,
                                        const std::vector<StoredResult>& custom);

// The memory calibration of `backend`: the median of its overhead samples
// (at least 0), or the default when it has none.
MemoryCalibration MemoryCalibrationOf(const CalibrationInputs& inputs, const std::string& backend);

class Predictor {
 public:
  explicit Predictor(ResultStore* store, absl::Duration refresh = absl::Minutes(1));

  // Rebuilds the calibration from the store now.
  absl::Status Refresh();

  // InvalidArgument for a request that names no GPU, no model or a bad
  // format, shape or context; NotFound for a GPU the table lacks (with the
  // hint to give its figures) or a model preset that does not exist, or a
  // device with neither results nor figures.
  absl::StatusOr<v1::PredictResponse> Predict(const v1::PredictRequest& request);

  // What a refresh builds.
  struct Fitted {
    Calibration speed;
    std::map<std::string, MemoryCalibration> memory;  // by backend
  };

  // The calibration in use (refreshed first when stale).
  absl::StatusOr<std::shared_ptr<const Fitted>> Current();

  // A readable report: per fitted device its fit, efficiency against the
  // table and leave-one-case-out errors; then the overall errors
  // (`aiscore-collector admin calibration-report`).
  static std::string Report(const Fitted& fitted);

 private:
  ResultStore* const store_;
  const absl::Duration refresh_;
  std::mutex refresh_mu_;  // held by the one thread rebuilding
  mutable std::mutex mu_;
  std::shared_ptr<const Fitted> current_;    // guarded by mu_
  absl::Time built_ = absl::InfinitePast();  // guarded by mu_
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_SERVICE_PREDICTOR_H_
