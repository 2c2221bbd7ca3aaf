// Tests of CollectorMetrics (its exposition text, read back with a strict
// parser), and RejectReasonLabel.
#include "collector/http/collector_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "tests/collector/http/exposition_parser.h"

namespace aiscore::collector {
namespace {

using aiscore::testing::Exposition;
using aiscore::testing::ParseExposition;

// The rendered text, parsed; fails the test when it is not valid exposition.
Exposition Render(const CollectorMetrics& metrics) {
  const std::string text = metrics.RenderPrometheus();
  Exposition parsed = ParseExposition(text);
  EXPECT_EQ(parsed.error, "") << text;
  return parsed;
}

// The value of one sample; -1 (and a failure) when it is missing.
double Value(const Exposition& e, const std::string& name,
             const std::map<std::string, std::string>& labels = {}) {
  const auto* sample = e.Find(name, labels);
  EXPECT_NE(sample, nullptr) << name;
  return sample == nullptr ? -1 : sample->value;
}

double Submissions(const Exposition& e, const std::string& outcome, const std::string& reason) {
  return Value(e, "aiscore_submissions_total", {{"outcome", outcome}, {"reason", reason}});
}

double Rpcs(const Exposition& e, const std::string& method, const std::string& code) {
  return Value(e, "aiscore_rpc_total", {{"method", method}, {"code", code}});
}

// The cumulative bucket counts of a histogram series, +Inf last.
std::vector<double> Buckets(const Exposition& e, const std::string& name,
                            std::map<std::string, std::string> labels = {}) {
  std::vector<double> counts;
  for (std::string_view le : kDurationBucketLabels) {
    labels["le"] = std::string(le);
    counts.push_back(Value(e, name + "_bucket", labels));
  }
  labels["le"] = "+Inf";
  counts.push_back(Value(e, name + "_bucket", labels));
  return counts;
}

TEST(RejectReasonLabelTest, IsTheLowerCaseShortName) {
  EXPECT_EQ(RejectReasonLabel(v1::REJECT_REASON_SIGNATURE), "signature");
  EXPECT_EQ(RejectReasonLabel(v1::REJECT_REASON_IMPLAUSIBLE), "implausible");
  EXPECT_EQ(RejectReasonLabel(v1::REJECT_REASON_BANNED_KEY), "banned_key");
  EXPECT_EQ(RejectReasonLabel(v1::REJECT_REASON_UNKNOWN_SUITE), "unknown_suite");
  EXPECT_EQ(RejectReasonLabel(v1::REJECT_REASON_UNSPECIFIED), "unspecified");
  EXPECT_EQ(RejectReasonLabel(static_cast<v1::RejectReason>(1000)), "unspecified");
}

TEST(CollectorMetricsTest, EverySeriesExistsAtZeroBeforeAnythingIsRecorded) {
  CollectorMetrics metrics;
  const Exposition e = Render(metrics);
  for (const char* outcome : {"accepted", "accepted_flagged", "duplicate", "unspecified"}) {
    EXPECT_EQ(Submissions(e, outcome, "none"), 0) << outcome;
  }
  for (int r = 0; r < v1::RejectReason_ARRAYSIZE; ++r) {
    const std::string reason = RejectReasonLabel(static_cast<v1::RejectReason>(r));
    EXPECT_EQ(Submissions(e, "rejected", reason), 0) << reason;
  }
  for (const char* method :
       {"Submit", "GetLeaderboard", "GetResult", "ListGpus", "Predict", "other"}) {
    for (std::string_view code : kGrpcCodeNames) {
      EXPECT_EQ(Rpcs(e, method, std::string(code)), 0) << method << " " << code;
    }
    EXPECT_EQ(Value(e, "aiscore_rpc_duration_seconds_count", {{"method", method}}), 0);
  }
  for (const char* by : {"key", "peer", "other"}) {
    EXPECT_EQ(Value(e, "aiscore_rate_limited_total", {{"by", by}}), 0);
  }
  EXPECT_EQ(Value(e, "aiscore_submit_duration_seconds_count"), 0);
  EXPECT_EQ(Value(e, "aiscore_submit_duration_seconds_sum"), 0);

  // 14 submission series (3 stored or duplicate + 10 reasons + unspecified).
  int submission_series = 0;
  for (const auto& s : e.samples) submission_series += s.name == "aiscore_submissions_total";
  EXPECT_EQ(submission_series, 3 + v1::RejectReason_ARRAYSIZE + 1);

  EXPECT_EQ(e.types.at("aiscore_submissions_total"), "counter");
  EXPECT_EQ(e.types.at("aiscore_submit_duration_seconds"), "histogram");
  EXPECT_EQ(e.types.at("aiscore_rpc_total"), "counter");
  EXPECT_EQ(e.types.at("aiscore_rpc_duration_seconds"), "histogram");
  EXPECT_EQ(e.types.at("aiscore_rate_limited_total"), "counter");
  EXPECT_EQ(e.types.at("aiscore_database_bytes"), "gauge");
  EXPECT_EQ(e.types.at("aiscore_results_stored"), "gauge");
  EXPECT_EQ(e.types.at("aiscore_uptime_seconds"), "gauge");
  EXPECT_EQ(e.types.at("aiscore_build_info"), "gauge");
  EXPECT_EQ(e.help.size(), e.types.size());
  // No callbacks: the gauges have no sample.
  EXPECT_EQ(e.Find("aiscore_database_bytes"), nullptr);
  EXPECT_EQ(e.Find("aiscore_results_stored"), nullptr);
}

TEST(CollectorMetricsTest, CountsEachSubmitUnderItsOutcomeAndReason) {
  CollectorMetrics metrics;
  for (int i = 0; i < 3; ++i) {
    metrics.RecordSubmit(v1::SUBMIT_STATUS_ACCEPTED, v1::REJECT_REASON_UNSPECIFIED, 0.01);
  }
  // A reason on a non-rejection is ignored.
  metrics.RecordSubmit(v1::SUBMIT_STATUS_ACCEPTED_FLAGGED, v1::REJECT_REASON_SIGNATURE, 0.01);
  metrics.RecordSubmit(v1::SUBMIT_STATUS_DUPLICATE, v1::REJECT_REASON_UNSPECIFIED, 0.01);
  metrics.RecordSubmit(v1::SUBMIT_STATUS_DUPLICATE, v1::REJECT_REASON_UNSPECIFIED, 0.01);
  metrics.RecordSubmit(v1::SUBMIT_STATUS_REJECTED, v1::REJECT_REASON_SIGNATURE, 0.01);
  metrics.RecordSubmit(v1::SUBMIT_STATUS_REJECTED, v1::REJECT_REASON_SIGNATURE, 0.01);
  metrics.RecordSubmit(v1::SUBMIT_STATUS_REJECTED, v1::REJECT_REASON_IMPLAUSIBLE, 0.01);
  metrics.RecordSubmit(v1::SUBMIT_STATUS_REJECTED, static_cast<v1::RejectReason>(77), 0.01);
  metrics.RecordSubmit(static_cast<v1::SubmitStatus>(99), v1::REJECT_REASON_UNSPECIFIED, 0.01);

  const Exposition e = Render(metrics);
  EXPECT_EQ(Submissions(e, "accepted", "none"), 3);
  EXPECT_EQ(Submissions(e, "accepted_flagged", "none"), 1);
  EXPECT_EQ(Submissions(e, "duplicate", "none"), 2);
  EXPECT_EQ(Submissions(e, "rejected", "signature"), 2);
  EXPECT_EQ(Submissions(e, "rejected", "implausible"), 1);
  EXPECT_EQ(Submissions(e, "rejected", "unspecified"), 1);
  EXPECT_EQ(Submissions(e, "rejected", "malformed"), 0);
  EXPECT_EQ(Submissions(e, "unspecified", "none"), 1);
  EXPECT_EQ(Value(e, "aiscore_submit_duration_seconds_count"), 11);
  EXPECT_NEAR(Value(e, "aiscore_submit_duration_seconds_sum"), 0.11, 1e-9);
}

TEST(CollectorMetricsTest, HistogramBucketsAreCumulativeAndCountIsEverything) {
  CollectorMetrics metrics;
  // le is inclusive: 0.0005 lands in the 0.0005 bucket, 0.00051 in the next.
  const std::vector<double> seconds = {0.0001, 0.0005, 0.00051, 0.003, 0.003,        1.0,
                                       10.0,   10.5,   20.0,    -1.0,  std::nan(""), HUGE_VAL};
  for (double s : seconds) metrics.RecordRpc("GetResult", 0, s);
  const Exposition e = Render(metrics);
  const std::vector<double> buckets =
      Buckets(e, "aiscore_rpc_duration_seconds", {{"method", "GetResult"}});
  //                 0.0005 .001 .0025 .005 .01 .025 .05 .1 .25 .5  1  2.5 5 10 +Inf
  const std::vector<double> expected = {4, 5, 5, 7, 7, 7, 7, 7, 7, 7, 8, 8, 8, 9, 12};
  EXPECT_EQ(buckets, expected);
  for (size_t i = 1; i < buckets.size(); ++i) EXPECT_GE(buckets[i], buckets[i - 1]);
  EXPECT_EQ(Value(e, "aiscore_rpc_duration_seconds_count", {{"method", "GetResult"}}),
            seconds.size());
  // Negative and NaN count as 0; +Inf adds kMaxSummedSeconds to the sum.
  const double finite_sum = 0.0001 + 0.0005 + 0.00051 + 0.003 + 0.003 + 1.0 + 10.0 + 10.5 + 20.0;
  EXPECT_NEAR(Value(e, "aiscore_rpc_duration_seconds_sum", {{"method", "GetResult"}}),
              finite_sum + kMaxSummedSeconds, 1e-6);
  // Other methods are untouched.
  EXPECT_EQ(Value(e, "aiscore_rpc_duration_seconds_count", {{"method", "Submit"}}), 0);
}

TEST(CollectorMetricsTest, CountsRpcsByMethodAndCodeNeverTakingLabelsFromInput) {
  CollectorMetrics metrics;
  metrics.RecordRpc("Submit", 0, 0.002);
  metrics.RecordRpc("Submit", 0, 0.002);
  metrics.RecordRpc("Submit", 8, 0.001);  // RESOURCE_EXHAUSTED
  metrics.RecordRpc("GetLeaderboard", 3, 0.001);
  metrics.RecordRpc("ListGpus", 0, 0.001);
  metrics.RecordRpc("Predict", 12, 0.001);
  metrics.RecordRpc("GetResult", 5, 0.001);
  metrics.RecordRpc("Evil\"}\nmethod", 16, 0.001);  // other, UNAUTHENTICATED
  metrics.RecordRpc("submit", 0, 0.001);            // case matters: other
  metrics.RecordRpc("Submit", 17, 0.001);           // no such code: UNKNOWN
  metrics.RecordRpc("Submit", -1, 0.001);           // UNKNOWN

  const Exposition e = Render(metrics);
  EXPECT_EQ(Rpcs(e, "Submit", "OK"), 2);
  EXPECT_EQ(Rpcs(e, "Submit", "RESOURCE_EXHAUSTED"), 1);
  EXPECT_EQ(Rpcs(e, "Submit", "UNKNOWN"), 2);
  EXPECT_EQ(Rpcs(e, "GetLeaderboard", "INVALID_ARGUMENT"), 1);
  EXPECT_EQ(Rpcs(e, "ListGpus", "OK"), 1);
  EXPECT_EQ(Rpcs(e, "Predict", "UNIMPLEMENTED"), 1);
  EXPECT_EQ(Rpcs(e, "GetResult", "NOT_FOUND"), 1);
  EXPECT_EQ(Rpcs(e, "other", "UNAUTHENTICATED"), 1);
  EXPECT_EQ(Rpcs(e, "other", "OK"), 1);
  EXPECT_EQ(Value(e, "aiscore_rpc_duration_seconds_count", {{"method", "Submit"}}), 5);
  EXPECT_EQ(Value(e, "aiscore_rpc_duration_seconds_count", {{"method", "other"}}), 2);
  double total = 0;
  for (const auto& s : e.samples) {
    if (s.name == "aiscore_rpc_total") total += s.value;
  }
  EXPECT_EQ(total, 11);
  for (const auto& s : e.samples) {
    const auto method = s.labels.find("method");
    if (method != s.labels.end()) {
      EXPECT_TRUE(method->second == "other" || method->second == "Submit" ||
                  method->second == "GetLeaderboard" || method->second == "GetResult" ||
                  method->second == "ListGpus" || method->second == "Predict")
          << method->second;
    }
  }
}

TEST(CollectorMetricsTest, CountsRateLimitedRequestsByLimit) {
  CollectorMetrics metrics;
  metrics.RecordRateLimited("key");
  metrics.RecordRateLimited("peer");
  metrics.RecordRateLimited("peer");
  metrics.RecordRateLimited("anything else");
  const Exposition e = Render(metrics);
  EXPECT_EQ(Value(e, "aiscore_rate_limited_total", {{"by", "key"}}), 1);
  EXPECT_EQ(Value(e, "aiscore_rate_limited_total", {{"by", "peer"}}), 2);
  EXPECT_EQ(Value(e, "aiscore_rate_limited_total", {{"by", "other"}}), 1);
}

TEST(CollectorMetricsTest, ReadsGaugesAtRenderAndOmitsOneThatFails) {
  int64_t bytes = 4096;
  bool results_fail = false;
  CollectorMetrics::Options options;
  options.version = "0.1.0 \"dev\" \\ build\nx";
  options.database_bytes = [&bytes]() -> absl::StatusOr<double> { return bytes; };
  options.results_stored = [&results_fail]() -> absl::StatusOr<double> {
    if (results_fail) return absl::UnavailableError("store closed");
    return 12;
  };
  CollectorMetrics metrics(std::move(options));

  Exposition e = Render(metrics);
  EXPECT_EQ(Value(e, "aiscore_database_bytes"), 4096);
  EXPECT_EQ(Value(e, "aiscore_results_stored"), 12);
  EXPECT_GE(Value(e, "aiscore_uptime_seconds"), 0);
  EXPECT_EQ(Value(e, "aiscore_build_info", {{"version", "0.1.0 \"dev\" \\ build\nx"}}), 1);

  bytes = 1 << 20;
  results_fail = true;
  e = Render(metrics);
  EXPECT_EQ(Value(e, "aiscore_database_bytes"), 1 << 20);
  EXPECT_EQ(e.Find("aiscore_results_stored"), nullptr);
  EXPECT_EQ(e.types.at("aiscore_results_stored"), "gauge");  // the family stays
}

TEST(CollectorMetricsTest, RendersTheExactTextOfASubmitCounterAndAHistogram) {
  CollectorMetrics metrics;
  metrics.RecordSubmit(v1::SUBMIT_STATUS_ACCEPTED, v1::REJECT_REASON_UNSPECIFIED, 0.25);
  const std::string text = metrics.RenderPrometheus();
  EXPECT_NE(text.find("# HELP aiscore_submissions_total "), std::string::npos);
  EXPECT_NE(text.find("# TYPE aiscore_submissions_total counter\n"
                      "aiscore_submissions_total{outcome=\"accepted\",reason=\"none\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("aiscore_submit_duration_seconds_bucket{le=\"0.1\"} 0\n"
                      "aiscore_submit_duration_seconds_bucket{le=\"0.25\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("aiscore_submit_duration_seconds_bucket{le=\"+Inf\"} 1\n"
                      "aiscore_submit_duration_seconds_sum 0.25\n"
                      "aiscore_submit_duration_seconds_count 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("aiscore_rpc_duration_seconds_bucket{method=\"Submit\",le=\"0.0005\"} 0\n"),
            std::string::npos);
}

TEST(CollectorMetricsTest, ConcurrentRecordingFromEightThreadsLosesNoCount) {
  CollectorMetrics metrics;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 50000;
  std::atomic<bool> done{false};
  // A reader renders all the while: it must see valid text throughout.
  std::thread reader([&] {
    while (!done.load()) {
      const Exposition e = ParseExposition(metrics.RenderPrometheus());
      ASSERT_EQ(e.error, "");
      const auto* count = e.Find("aiscore_submit_duration_seconds_count");
      const auto* inf = e.Find("aiscore_submit_duration_seconds_bucket", {{"le", "+Inf"}});
      ASSERT_NE(count, nullptr);
      ASSERT_NE(inf, nullptr);
      EXPECT_EQ(count->value, inf->value);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&metrics, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const double seconds = 0.0001 * ((i + t) % 1000);
        metrics.RecordSubmit(i % 2 ? v1::SUBMIT_STATUS_ACCEPTED : v1::SUBMIT_STATUS_REJECTED,
                             v1::REJECT_REASON_TIMESTAMP, seconds);
        metrics.RecordRpc(i % 3 ? "Submit" : "GetLeaderboard", i % 2 ? 0 : 14, seconds);
        metrics.RecordRateLimited(i % 2 ? "key" : "peer");
      }
    });
  }
  for (std::thread& w : writers) w.join();
  done = true;
  reader.join();

  const Exposition e = Render(metrics);
  constexpr double kTotal = kThreads * kPerThread;
  EXPECT_EQ(Submissions(e, "accepted", "none"), kTotal / 2);
  EXPECT_EQ(Submissions(e, "rejected", "timestamp"), kTotal / 2);
  EXPECT_EQ(Value(e, "aiscore_submit_duration_seconds_count"), kTotal);
  EXPECT_EQ(Buckets(e, "aiscore_submit_duration_seconds").back(), kTotal);
  double rpcs = 0;
  for (const auto& s : e.samples) {
    if (s.name == "aiscore_rpc_total") rpcs += s.value;
  }
  EXPECT_EQ(rpcs, kTotal);
  EXPECT_EQ(Value(e, "aiscore_rpc_duration_seconds_count", {{"method", "Submit"}}) +
                Value(e, "aiscore_rpc_duration_seconds_count", {{"method", "GetLeaderboard"}}),
            kTotal);
  EXPECT_EQ(Value(e, "aiscore_rate_limited_total", {{"by", "key"}}) +
                Value(e, "aiscore_rate_limited_total", {{"by", "peer"}}),
            kTotal);
}

TEST(ExpositionParserTest, RejectsWhatPrometheusWouldReject) {
  using aiscore::testing::ParseExposition;
  EXPECT_EQ(ParseExposition("# TYPE a counter\na 1\n").error, "");
  EXPECT_NE(ParseExposition("a 1\n").error, "");                  // no TYPE
  EXPECT_NE(ParseExposition("# TYPE a counter\na 1").error, "");  // no final newline
  EXPECT_NE(ParseExposition("# TYPE a counter\na{x=\"1} 1\n").error, "");
  EXPECT_NE(ParseExposition("# TYPE a counter\na{x=\"\\q\"} 1\n").error, "");
  EXPECT_NE(ParseExposition("# TYPE a counter\na one\n").error, "");
  EXPECT_NE(ParseExposition("# TYPE a counter\n\na 1\n").error, "");  // blank line
  EXPECT_NE(ParseExposition("# TYPE h histogram\nh 1\n").error, "");
  EXPECT_NE(ParseExposition("# TYPE h histogram\nh_bucket 1\n").error, "");  // no le
}

}  // namespace
}  // namespace aiscore::collector
