#include "collector/http/collector_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>
#include <utility>

namespace aiscore::collector {
namespace {

constexpr std::memory_order kRelaxed = std::memory_order_relaxed;

// Appends every part to *out (std::string_view-friendly, unlike this absl's
// StrAppend, whose string_view is its own type).
template <typename... Parts>
void Append(std::string* out, const Parts&... parts) {
  (out->append(std::string_view(parts)), ...);
}

template <typename... Parts>
std::string Cat(const Parts&... parts) {
  std::string out;
  Append(&out, parts...);
  return out;
}
constexpr int kOtherRateLimit = 2;  // the slot after "key" and "peer"

// An enum value's label: its name without `prefix`, lower-case.
std::string EnumLabel(const std::string& name, std::string_view prefix) {
  std::string_view rest = name;
  if (rest.starts_with(prefix)) rest.remove_prefix(prefix.size());
  std::string label(rest);
  for (char& c : label) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return label;
}

std::string OutcomeLabel(int status) {
  return EnumLabel(v1::SubmitStatus_Name(static_cast<v1::SubmitStatus>(status)), "SUBMIT_STATUS_");
}

std::array<std::string, v1::RejectReason_ARRAYSIZE> MakeReasonLabels() {
  std::array<std::string, v1::RejectReason_ARRAYSIZE> labels;
  for (int r = 0; r < v1::RejectReason_ARRAYSIZE; ++r) {
    labels[r] = RejectReasonLabel(static_cast<v1::RejectReason>(r));
  }
  return labels;
}

// A sample value: shortest round-trip decimal, or Prometheus' NaN / +Inf / -Inf.
std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buffer[64];
  const std::to_chars_result r = std::to_chars(buffer, buffer + sizeof(buffer), value);
  return std::string(buffer, r.ptr);
}

// A label value escaped for the exposition format: \\, \" and \n.
std::string EscapeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

void AppendHeader(std::string* out, std::string_view name, std::string_view type,
                  std::string_view help) {
  Append(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n");
}

// `labels` is empty or `key="value",...` (already escaped), without braces.
void AppendSample(std::string* out, std::string_view name, std::string_view labels,
                  std::string_view value) {
  if (labels.empty()) {
    Append(out, name, " ", value, "\n");
  } else {
    Append(out, name, "{", labels, "} ", value, "\n");
  }
}

std::string_view MethodLabel(int slot) {
  return slot < static_cast<int>(kRpcMethods.size()) ? kRpcMethods[slot] : "other";
}

}  // namespace

std::string RejectReasonLabel(v1::RejectReason reason) {
  if (!v1::RejectReason_IsValid(reason)) return "unspecified";
  return EnumLabel(v1::RejectReason_Name(reason), "REJECT_REASON_");
}

void CollectorMetrics::Histogram::Observe(double seconds) {
  if (!(seconds >= 0)) seconds = 0;  // negative or NaN
  // Bucket i holds (bound[i-1], bound[i]]: the first bound >= seconds.
  const auto it =
      std::lower_bound(kDurationBucketBounds.begin(), kDurationBucketBounds.end(), seconds);
  buckets[it - kDurationBucketBounds.begin()].fetch_add(1, kRelaxed);
  const double summed = std::min(seconds, kMaxSummedSeconds);
  sum_nanos.fetch_add(static_cast<uint64_t>(std::llround(summed * 1e9)), kRelaxed);
}

CollectorMetrics::CollectorMetrics(Options options)
    : options_(std::move(options)),
      start_(std::chrono::steady_clock::now()),
      reason_labels_(MakeReasonLabels()) {}

void CollectorMetrics::RecordSubmit(v1::SubmitStatus status, v1::RejectReason reason,
                                    double seconds) {
  if (!v1::SubmitStatus_IsValid(status)) status = v1::SUBMIT_STATUS_UNSPECIFIED;
  if (status == v1::SUBMIT_STATUS_REJECTED) {
    if (!v1::RejectReason_IsValid(reason)) reason = v1::REJECT_REASON_UNSPECIFIED;
    rejections_[reason].fetch_add(1, kRelaxed);
  } else {
    submissions_[status].fetch_add(1, kRelaxed);
  }
  submit_duration_.Observe(seconds);
}

void CollectorMetrics::RecordRpc(std::string_view method, int grpc_status_code, double seconds) {
  int slot = 0;
  while (slot < static_cast<int>(kRpcMethods.size()) && kRpcMethods[slot] != method) ++slot;
  if (grpc_status_code < 0 || grpc_status_code >= static_cast<int>(kGrpcCodeNames.size())) {
    grpc_status_code = 2;  // UNKNOWN
  }
  rpcs_[slot][grpc_status_code].fetch_add(1, kRelaxed);
  rpc_duration_[slot].Observe(seconds);
}

void CollectorMetrics::RecordRateLimited(std::string_view by) {
  const int slot = by == "key" ? 0 : by == "peer" ? 1 : kOtherRateLimit;
  rate_limited_[slot].fetch_add(1, kRelaxed);
}

namespace {

// Appends a histogram's _bucket, _sum and _count samples. `labels`: the
// series' own labels (escaped, no braces), possibly empty.
template <typename Buckets>
void AppendHistogram(std::string* out, std::string_view name, std::string_view labels,
                     const Buckets& buckets, const std::atomic<uint64_t>& sum_nanos) {
  const std::string prefix = labels.empty() ? "" : Cat(labels, ",");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < buckets.size(); ++i) {
    cumulative += buckets[i].load(kRelaxed);
    const std::string_view le =
        i < kDurationBucketLabels.size() ? kDurationBucketLabels[i] : "+Inf";
    AppendSample(out, Cat(name, "_bucket"), Cat(prefix, "le=\"", le, "\""),
                 std::to_string(cumulative));
  }
  const double sum = static_cast<double>(sum_nanos.load(kRelaxed)) / 1e9;
  AppendSample(out, Cat(name, "_sum"), labels, FormatValue(sum));
  AppendSample(out, Cat(name, "_count"), labels, std::to_string(cumulative));
}

void AppendGauge(std::string* out, std::string_view name, std::string_view help,
                 const CollectorMetrics::GaugeCallback& callback) {
  AppendHeader(out, name, "gauge", help);
  if (!callback) return;
  const absl::StatusOr<double> value = callback();
  if (value.ok()) AppendSample(out, name, "", FormatValue(*value));
}

}  // namespace

std::string CollectorMetrics::RenderPrometheus() const {
  std::string out;
  out.reserve(32 * 1024);

  AppendHeader(&out, "aiscore_submissions_total", "counter",
               "Submit answers by outcome and, for rejections, reason.");
  // Stored or duplicate outcomes first (enum order), then each rejection
  // reason, then the unspecified status (a collector bug if ever non-zero).
  for (int s = 1; s <= kSubmitStatuses; ++s) {
    const int status = s % kSubmitStatuses;  // 1, 2, ..., 0
    if (!v1::SubmitStatus_IsValid(status)) continue;
    const std::string outcome = OutcomeLabel(status);
    if (status == v1::SUBMIT_STATUS_REJECTED) {
      for (int r = 1; r <= kRejectReasons; ++r) {
        const int reason = r % kRejectReasons;
        if (!v1::RejectReason_IsValid(reason)) continue;
        AppendSample(&out, "aiscore_submissions_total",
                     Cat("outcome=\"", outcome, "\",reason=\"", reason_labels_[reason], "\""),
                     std::to_string(rejections_[reason].load(kRelaxed)));
      }
    } else {
      AppendSample(&out, "aiscore_submissions_total",
                   Cat("outcome=\"", outcome, "\",reason=\"none\""),
                   std::to_string(submissions_[status].load(kRelaxed)));
    }
  }

  AppendHeader(&out, "aiscore_submit_duration_seconds", "histogram",
               "Seconds Submit spent verifying and storing a submission.");
  AppendHistogram(&out, "aiscore_submit_duration_seconds", "", submit_duration_.buckets,
                  submit_duration_.sum_nanos);

  AppendHeader(&out, "aiscore_rpc_total", "counter",
               "Finished gRPC calls by method and status code.");
  for (int m = 0; m < kMethodSlots; ++m) {
    for (size_t c = 0; c < kGrpcCodeNames.size(); ++c) {
      AppendSample(&out, "aiscore_rpc_total",
                   Cat("method=\"", MethodLabel(m), "\",code=\"", kGrpcCodeNames[c], "\""),
                   std::to_string(rpcs_[m][c].load(kRelaxed)));
    }
  }

  AppendHeader(&out, "aiscore_rpc_duration_seconds", "histogram",
               "Seconds a gRPC handler ran, by method.");
  for (int m = 0; m < kMethodSlots; ++m) {
    AppendHistogram(&out, "aiscore_rpc_duration_seconds", Cat("method=\"", MethodLabel(m), "\""),
                    rpc_duration_[m].buckets, rpc_duration_[m].sum_nanos);
  }

  AppendHeader(&out, "aiscore_rate_limited_total", "counter",
               "Requests the rate limiter refused, by the limit that refused them.");
  constexpr std::array<std::string_view, kRateLimitSlots> kBy = {"key", "peer", "other"};
  for (int b = 0; b < kRateLimitSlots; ++b) {
    AppendSample(&out, "aiscore_rate_limited_total", Cat("by=\"", kBy[b], "\""),
                 std::to_string(rate_limited_[b].load(kRelaxed)));
  }

  AppendGauge(&out, "aiscore_database_bytes",
              "Bytes of the SQLite database: main file plus write-ahead log.",
              options_.database_bytes);
  AppendGauge(&out, "aiscore_results_stored", "Results in the store.", options_.results_stored);

  AppendHeader(&out, "aiscore_uptime_seconds", "gauge", "Seconds since the collector started.");
  const std::chrono::duration<double> uptime = std::chrono::steady_clock::now() - start_;
  AppendSample(&out, "aiscore_uptime_seconds", "", FormatValue(uptime.count()));

  AppendHeader(&out, "aiscore_build_info", "gauge",
               "Always 1; the version label names the collector's build.");
  AppendSample(&out, "aiscore_build_info",
               Cat("version=\"", EscapeLabelValue(options_.version), "\""), "1");
  return out;
}

}  // namespace aiscore::collector
