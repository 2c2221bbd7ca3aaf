#include "collector/verify/submission_verifier.h"

#include <cmath>
#include <optional>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/quant/format.h"
#include "agent/sign/envelope.h"
#include "google/protobuf/util/time_util.h"
#include "scoring/reference_values.h"

namespace aiscore {
namespace {

using google::protobuf::util::TimeUtil;

Verdict Reject(Verdict v, v1::RejectReason reason, std::string message) {
  v.accepted = false;
  v.reason = reason;
  v.message = std::move(message);
  return v;
}

bool Finite(double x) { return std::isfinite(x); }

// The time `t` names; nullopt when it lies outside Timestamp's range (years 1
// to 9999) or its nanos outside [0, 1e9). Converting such a value to
// milliseconds would overflow int64 and wrap around into the time window.
std::optional<absl::Time> ToTime(const google::protobuf::Timestamp& t) {
  if (t.seconds() < TimeUtil::kTimestampMinSeconds ||
      t.seconds() > TimeUtil::kTimestampMaxSeconds || t.nanos() < 0 || t.nanos() > 999999999) {
    return std::nullopt;
  }
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// Checks a measured case against the metrics its workload defines; empty when fine.
std::string CheckMeasuredCase(const v1::CaseResult& c, const v1::Workload& w) {
  if (c.self_check().status() != v1::SELF_CHECK_STATUS_PASSED) {
    return absl::StrCat("case '", c.name(), "' ran without a passing self-check");
  }
  if (c.timed_runs() < 1) return absl::StrCat("case '", c.name(), "' has no timed run");
  if (c.measurements_size() != w.metrics_size()) {
    return absl::StrCat("case '", c.name(), "' has ", c.measurements_size(),
                        " measurements; its workload defines ", w.metrics_size());
  }
  for (const v1::MetricSpec& spec : w.metrics()) {
    const v1::Measurement* m = nullptr;
    for (const v1::Measurement& x : c.measurements()) {
      if (x.name() == spec.name()) m = &x;
    }
    const std::string where = absl::StrCat("case '", c.name(), "' metric '", spec.name(), "': ");
    if (m == nullptr) return where + "missing";
    if (m->kind() != spec.kind() || m->unit() != UnitOf(spec.kind())) {
      return where + "kind or unit differs from the suite's";
    }
    if (m->samples_size() != c.timed_runs()) {
      return absl::StrCat(where, m->samples_size(), " samples for ", c.timed_runs(), " timed runs");
    }
    const double values[] = {m->median(), m->min(), m->max()};
    for (double v : values) {
      // A fraction lies in [0, 1] (a break-even acceptance of 0: speculation
      // pays at any acceptance); every other unit is positive.
      if (m->unit() == v1::UNIT_FRACTION) {
        if (!Finite(v) || v < 0 || v > 1) {
          return absl::StrCat(where, "fraction ", v, " is not in [0, 1]");
        }
      } else if (!Finite(v) || v <= 0) {
        return absl::StrCat(where, "value ", v, " is not finite and positive");
      }
    }
    if (!(m->min() <= m->median() && m->median() <= m->max())) {
      return where + "median is not between min and max";
    }
    if (!Finite(m->stddev()) || m->stddev() < 0) {
      return absl::StrCat(where, "stddev ", m->stddev(), " is not finite and non-negative");
    }
    for (double s : m->samples()) {
      if (!Finite(s) || s < m->min() || s > m->max()) {
        return absl::StrCat(where, "sample ", s, " lies outside [min, max]");
      }
    }
  }
  return "";
}

// The implausible figure of a measured case, or empty.
std::string CheckPhysics(const v1::CaseResult& c, const v1::Workload& w,
                         const v1::ModelShape& shape, const DeviceLimits& limits, double margin) {
  absl::StatusOr<double> weight_bytes = WeightBytesPerToken(shape, c.format());
  if (!weight_bytes.ok()) return "";
  for (const v1::Measurement& m : c.measurements()) {
    if (m.kind() == v1::METRIC_KIND_DECODE_RATE && limits.memory_bandwidth > 0) {
      // At least the weights and the prompt's KV cache are read per token.
      const double bytes = *weight_bytes + KvBytesPerToken(shape) * w.prompt_tokens();
      const double rate = m.median() * bytes;
      if (rate > margin * limits.memory_bandwidth) {
        return absl::StrFormat(
            "case '%s' %s: %.4g tokens/s reads %.1f GB/s, more than %.2f x the device's %.1f GB/s",
            c.name(), m.name(), m.median(), rate / 1e9, margin, limits.memory_bandwidth / 1e9);
      }
    }
    if (m.kind() == v1::METRIC_KIND_PREFILL_RATE && limits.peak_flops > 0) {
      const double flops_per_token =
          ForwardFlops(shape, w.prompt_tokens(), 0) / static_cast<double>(w.prompt_tokens());
      const double rate = m.median() * flops_per_token;
      if (rate > margin * limits.peak_flops) {
        return absl::StrFormat(
            "case '%s' %s: %.4g tokens/s computes %.1f TFLOP/s, more than %.2f x the device's "
            "%.1f TFLOP/s",
            c.name(), m.name(), m.median(), rate / 1e12, margin, limits.peak_flops / 1e12);
      }
    }
  }
  return "";
}

// Refuses a score that is not a finite number: a median so far from its
// reference (a time of 1e-320 s) that its ratio, or 1000 x a geometric mean,
// overflows to infinity or underflows to zero (and infinity and zero together
// make NaN). The error names the most extreme ratio.
absl::Status CheckScoreIsFinite(const ScoreReport& report) {
  const double figures[] = {report.score,   report.prefill,      report.decode,
                            report.latency, report.long_context, report.speculative};
  bool finite = true;
  for (double x : figures) finite = finite && std::isfinite(x);
  const MetricRatio* extreme = nullptr;
  for (const MetricRatio& r : report.ratios) {
    if (!std::isfinite(r.ratio) || r.ratio <= 0) {
      extreme = &r;
      finite = false;
      break;
    }
    if (extreme == nullptr || std::fabs(std::log(r.ratio)) > std::fabs(std::log(extreme->ratio))) {
      extreme = &r;
    }
  }
  if (finite) return absl::OkStatus();
  if (extreme == nullptr) return absl::InvalidArgumentError("the score is not a finite number");
  return absl::InvalidArgumentError(absl::StrCat(
      "case '", extreme->case_name, "' metric '", extreme->metric, "': median ", extreme->measured,
      " against the reference ", extreme->reference, " gives a score that is not a finite number"));
}

}  // namespace

SubmissionVerifier::SubmissionVerifier(VerifierOptions options) : options_(std::move(options)) {}

void SubmissionVerifier::RegisterSuite(const LoadedSuite& suite) {
  suites_[{suite.spec.name(), suite.sha256}] = suite.spec;
}

absl::Status SubmissionVerifier::RegisterBuiltInSuites() {
  for (const std::string& name : BuiltInSuiteNames()) {
    absl::StatusOr<LoadedSuite> suite = LoadBuiltInSuite(name);
    if (!suite.ok()) return suite.status();
    RegisterSuite(*suite);
  }
  return absl::OkStatus();
}

Verdict SubmissionVerifier::Verify(const v1::SignedResult& envelope, absl::Time now) const {
  Verdict v;
  absl::StatusOr<v1::RunResult> parsed = VerifyEnvelope(envelope);
  if (!parsed.ok()) {
    const std::string message(parsed.status().message());
    switch (parsed.status().code()) {
      case absl::StatusCode::kInvalidArgument:
        return Reject(v, v1::REJECT_REASON_PAYLOAD_TYPE, message);
      case absl::StatusCode::kUnauthenticated:
        return Reject(v, v1::REJECT_REASON_SIGNATURE, message);
      default:
        return Reject(v, v1::REJECT_REASON_MALFORMED, message);
    }
  }
  v.result = *std::move(parsed);
  const v1::RunResult& r = v.result;
  if (r.nonce().size() != 16) {
    return Reject(v, v1::REJECT_REASON_MALFORMED,
                  absl::StrCat("the nonce has ", r.nonce().size(), " bytes instead of 16"));
  }

  auto suite_it = suites_.find({r.suite().name(), r.suite().sha256()});
  if (suite_it == suites_.end()) {
    return Reject(v, v1::REJECT_REASON_UNKNOWN_SUITE,
                  absl::StrCat("suite '", r.suite().name(), "' with SHA-256 ", r.suite().sha256(),
                               " is not registered here"));
  }
  const v1::SuiteSpec& suite = suite_it->second;
  const bool custom = r.model().custom();
  if (custom) {
    if (absl::Status s = ToModelConfig(r.model().shape()).Validate(); !s.ok()) {
      return Reject(v, v1::REJECT_REASON_INVALID_VALUE,
                    absl::StrCat("the custom model's shape: ", s.message()));
    }
    if (!FormatFromName(r.model().file_format()).ok()) {
      return Reject(v, v1::REJECT_REASON_INVALID_VALUE,
                    absl::StrCat("unknown custom model format '", r.model().file_format(), "'"));
    }
  }

  // Every case of the suite (in suite order), once, and nothing else.
  std::vector<std::pair<std::string, const v1::Workload*>> expected;
  for (const v1::Workload& w : suite.workloads()) {
    if (custom) {
      expected.emplace_back(CaseName(w.name(), r.model().file_format()), &w);
    } else {
      for (const std::string& f : suite.formats()) expected.emplace_back(CaseName(w.name(), f), &w);
    }
  }
  const std::map<std::string, const v1::Workload*> workload_of(expected.begin(), expected.end());
  std::set<std::string> seen;
  for (const v1::CaseResult& c : r.cases()) {
    if (!workload_of.count(c.name())) {
      return Reject(v, v1::REJECT_REASON_INCOMPLETE,
                    absl::StrCat("case '", c.name(), "' is not in suite '", suite.name(), "'"));
    }
    if (!seen.insert(c.name()).second) {
      return Reject(v, v1::REJECT_REASON_INCOMPLETE,
                    absl::StrCat("case '", c.name(), "' appears twice"));
    }
  }
  for (const auto& [name, w] : expected) {
    if (!seen.count(name)) {
      return Reject(v, v1::REJECT_REASON_INCOMPLETE,
                    absl::StrCat("case '", name, "' of suite '", suite.name(), "' is missing"));
    }
  }

  // Values.
  for (const v1::CaseResult& c : r.cases()) {
    const v1::Workload* w = workload_of.at(c.name());
    // The physics check and calibration read the case's own workload and
    // format fields: they must be the ones its name says.
    if (c.workload() != w->name() || c.name() != CaseName(w->name(), c.format())) {
      return Reject(v, v1::REJECT_REASON_INVALID_VALUE,
                    absl::StrCat("case '", c.name(), "' says workload '", c.workload(),
                                 "' and format '", c.format(), "', not those of its name"));
    }
    if (c.status() == v1::CASE_STATUS_UNSPECIFIED || !v1::CaseStatus_IsValid(c.status())) {
      return Reject(v, v1::REJECT_REASON_INVALID_VALUE,
                    absl::StrCat("case '", c.name(), "' has no status"));
    }
    if (c.status() != v1::CASE_STATUS_OK) continue;
    if (std::string problem = CheckMeasuredCase(c, *w); !problem.empty()) {
      return Reject(v, v1::REJECT_REASON_INVALID_VALUE, problem);
    }
  }

  // Time window.
  if (!r.has_started_at() || !r.has_finished_at()) {
    return Reject(v, v1::REJECT_REASON_TIMESTAMP, "started_at or finished_at is missing");
  }
  const std::optional<absl::Time> started_at = ToTime(r.started_at());
  const std::optional<absl::Time> finished_at = ToTime(r.finished_at());
  if (!started_at || !finished_at) {
    return Reject(v, v1::REJECT_REASON_TIMESTAMP,
                  "started_at or finished_at is not a valid timestamp (years 1 to 9999, nanos "
                  "in [0, 1e9))");
  }
  const absl::Time started = *started_at;
  const absl::Time finished = *finished_at;
  if (finished < started) {
    return Reject(v, v1::REJECT_REASON_TIMESTAMP, "finished_at is before started_at");
  }
  if (finished > now + options_.max_clock_skew) {
    return Reject(v, v1::REJECT_REASON_TIMESTAMP,
                  absl::StrCat("finished_at ", absl::FormatTime(finished), " is in the future"));
  }
  if (finished < now - options_.max_age) {
    return Reject(v, v1::REJECT_REASON_TIMESTAMP,
                  absl::StrCat("finished_at ", absl::FormatTime(finished), " is older than ",
                               absl::FormatDuration(options_.max_age)));
  }

  // Physics.
  if (options_.device_limits) {
    if (std::optional<DeviceLimits> limits = options_.device_limits(r)) {
      for (const v1::CaseResult& c : r.cases()) {
        if (c.status() != v1::CASE_STATUS_OK) continue;
        const v1::Workload* w = workload_of.at(c.name());
        const v1::ModelShape* shape = custom ? &r.model().shape() : FindModel(suite, w->model());
        if (shape == nullptr) continue;
        absl::StatusOr<double> weight_bytes = WeightBytesPerToken(*shape, c.format());
        if (!weight_bytes.ok() || *weight_bytes < options_.physics_min_weight_bytes) continue;
        if (std::string problem = CheckPhysics(c, *w, *shape, *limits, options_.physics_margin);
            !problem.empty()) {
          return Reject(v, v1::REJECT_REASON_IMPLAUSIBLE, problem);
        }
      }
    }
  }

  absl::StatusOr<ResultScores> scores = ScoreResult(r);
  if (!scores.ok()) {
    return Reject(v, v1::REJECT_REASON_INVALID_VALUE, std::string(scores.status().message()));
  }
  v.score = std::move(scores->overall);
  v.format_scores = std::move(scores->by_format);
  v.custom_model = custom;
  v.rankable_suite = scores->rankable_suite;
  v.ranked = scores->rankable_suite && !custom;
  v.accepted = true;
  return v;
}

bool SubmissionVerifier::SuiteHasFormat(std::string_view suite, std::string_view format) const {
  for (const auto& [id, spec] : suites_) {
    if (id.first != suite) continue;
    for (const std::string& f : spec.formats()) {
      if (f == format) return true;
    }
  }
  return false;
}

absl::StatusOr<ResultScores> SubmissionVerifier::ScoreResult(const v1::RunResult& r) const {
  auto suite_it = suites_.find({r.suite().name(), r.suite().sha256()});
  if (suite_it == suites_.end()) {
    return absl::NotFoundError(absl::StrCat("suite '", r.suite().name(), "' with SHA-256 ",
                                            r.suite().sha256(), " is not registered here"));
  }
  const v1::SuiteSpec& suite = suite_it->second;
  ResultScores scores;
  scores.custom_model = r.model().custom();
  scores.rankable_suite = suite.rankable();
  if (scores.custom_model) return scores;
  absl::StatusOr<ScoreReport> overall = ComputeScore(suite, r);
  if (!overall.ok()) return overall.status();
  if (absl::Status s = CheckScoreIsFinite(*overall); !s.ok()) return s;
  scores.overall = *std::move(overall);
  for (const std::string& format : suite.formats()) {
    absl::StatusOr<ScoreReport> one = ComputeFormatScore(suite, r, format);
    if (!one.ok()) return one.status();
    if (absl::Status s = CheckScoreIsFinite(*one); !s.ok()) return s;
    scores.by_format.emplace_back(format, *std::move(one));
  }
  return scores;
}

}  // namespace aiscore
