// The AI System Score: scoring/score.h states the contract, docs/scoring.md
// the definition.
#include "scoring/score.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

// A running geometric mean: logs summed in the order they come.
struct LogMean {
  double log_sum = 0;
  int n = 0;

  void Add(double ratio) {
    log_sum += std::log(ratio);
    ++n;
  }
  // exp of the mean log; 0 when empty.
  double GeometricMean() const { return n == 0 ? 0 : std::exp(log_sum / n); }
};

bool FinitePositive(double x) { return std::isfinite(x) && x > 0; }

const v1::Reference* FindReference(const v1::MetricSpec& metric, std::string_view format) {
  for (const v1::Reference& r : metric.references()) {
    if (r.format() == format) return &r;
  }
  return nullptr;
}

// The one measurement named `name` of `c`; nullptr when there is none and
// InvalidArgument when there are several.
absl::StatusOr<const v1::Measurement*> FindMeasurement(const v1::CaseResult& c,
                                                       std::string_view name) {
  const v1::Measurement* found = nullptr;
  for (const v1::Measurement& m : c.measurements()) {
    if (m.name() != name) continue;
    if (found != nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("case '", c.name(), "': measurement '",
                                                     std::string(name), "' appears twice"));
    }
    found = &m;
  }
  return found;
}

// ComputeScore over the suite's formats, or over `only_format` alone when it
// is not empty.
absl::StatusOr<ScoreReport> Score(const v1::SuiteSpec& suite, const v1::RunResult& result,
                                  std::string_view only_format) {
  if (!result.suite().name().empty() && result.suite().name() != suite.name()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the result is of suite '", result.suite().name(), "', not of suite '", suite.name(), "'"));
  }
  std::set<std::string, std::less<>> suite_cases;
  for (const v1::Workload& w : suite.workloads()) {
    for (const std::string& format : suite.formats())
      suite_cases.insert(CaseName(w.name(), format));
  }
  std::map<std::string, const v1::CaseResult*, std::less<>> cases;
  for (const v1::CaseResult& c : result.cases()) {
    if (suite_cases.count(c.name()) == 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("case '", c.name(), "' is not a case of suite '", suite.name(), "'"));
    }
    if (!cases.emplace(c.name(), &c).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("case '", c.name(), "' appears twice in the result"));
    }
  }

  ScoreReport report;
  LogMean all;
  std::map<v1::SubScore, LogMean> by_sub_score;
  for (const v1::Workload& w : suite.workloads()) {
    for (const std::string& format : suite.formats()) {
      if (!only_format.empty() && format != only_format) continue;
      const std::string name = CaseName(w.name(), format);
      ++report.cases_total;
      const auto it = cases.find(name);
      if (it == cases.end()) {
        return absl::InvalidArgumentError(absl::StrCat("case '", name, "' of suite '", suite.name(),
                                                       "' is missing from the result"));
      }
      const v1::CaseResult& c = *it->second;
      if (c.status() != v1::CASE_STATUS_OK) continue;
      ++report.cases_ran;
      for (const v1::MetricSpec& metric : w.metrics()) {
        if (metric.sub_score() == v1::SUB_SCORE_UNSPECIFIED) continue;
        const std::string where = absl::StrCat("case '", name, "' metric '", metric.name(), "'");
        const v1::Reference* reference = FindReference(metric, format);
        if (reference == nullptr || !FinitePositive(reference->value())) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": the suite has no positive reference for this format"));
        }
        absl::StatusOr<const v1::Measurement*> measurement = FindMeasurement(c, metric.name());
        if (!measurement.ok()) return measurement.status();
        if (*measurement == nullptr) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": the case ran but has no such measurement"));
        }
        const double median = (*measurement)->median();
        if (!FinitePositive(median)) {
          return absl::InvalidArgumentError(
              absl::StrCat(where, ": median ", median, " is not finite and positive"));
        }
        MetricRatio r;
        r.case_name = name;
        r.metric = metric.name();
        r.sub_score = metric.sub_score();
        r.measured = median;
        r.reference = reference->value();
        r.ratio = HigherIsBetter(metric.kind()) ? median / r.reference : r.reference / median;
        all.Add(r.ratio);
        by_sub_score[r.sub_score].Add(r.ratio);
        report.ratios.push_back(std::move(r));
      }
    }
  }

  report.capacity =
      report.cases_total == 0 ? 0 : static_cast<double>(report.cases_ran) / report.cases_total;
  report.score = 1000 * report.capacity * all.GeometricMean();
  auto sub_score = [&](v1::SubScore s) {
    const auto it = by_sub_score.find(s);
    return it == by_sub_score.end() ? 0 : 1000 * it->second.GeometricMean();
  };
  report.prefill = sub_score(v1::SUB_SCORE_PREFILL);
  report.decode = sub_score(v1::SUB_SCORE_DECODE);
  report.latency = sub_score(v1::SUB_SCORE_LATENCY);
  report.long_context = sub_score(v1::SUB_SCORE_LONG_CONTEXT);
  report.speculative = sub_score(v1::SUB_SCORE_SPECULATIVE);
  return report;
}

}  // namespace

absl::StatusOr<ScoreReport> ComputeScore(const v1::SuiteSpec& suite, const v1::RunResult& result) {
  return Score(suite, result, "");
}

absl::StatusOr<ScoreReport> ComputeFormatScore(const v1::SuiteSpec& suite,
                                               const v1::RunResult& result,
                                               std::string_view format) {
  if (std::find(suite.formats().begin(), suite.formats().end(), format) ==
      suite.formats().end()) {
    return absl::InvalidArgumentError(absl::StrCat("suite '", suite.name(), "' has no format '",
                                                   std::string(format), "'"));
  }
  return Score(suite, result, format);
}

v1::SubScores ToProto(const ScoreReport& report) {
  v1::SubScores s;
  s.set_prefill(report.prefill);
  s.set_decode(report.decode);
  s.set_latency(report.latency);
  s.set_long_context(report.long_context);
  s.set_speculative(report.speculative);
  s.set_capacity(report.capacity);
  return s;
}

}  // namespace aiscore
