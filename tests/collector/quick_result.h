// QuickResult: a complete, verifiable result of the built-in quick suite,
// built by hand for the collector's tests (verifier and service).
#ifndef AISCORE_TESTS_COLLECTOR_QUICK_RESULT_H_
#define AISCORE_TESTS_COLLECTOR_QUICK_RESULT_H_

#include <random>
#include <string>

#include "absl/time/time.h"
#include "aiscore/v1/result.pb.h"
#include "google/protobuf/util/time_util.h"
#include "suites/suite_loader.h"

namespace aiscore {

// The verifier tests' fixed clock.
inline const absl::Time kQuickResultNow = absl::FromUnixSeconds(1795000000);

// A complete result of `suite` (quick unless said) finished a minute before
// `now`: chat and long measured at `speed` x the reference values (rates
// times `speed`, times divided by it), spec not run (as `aiscore run
// --workload chat,long` leaves it). Each call draws a new
// nonce from a fixed-seed generator (not thread-safe).
inline v1::RunResult QuickResult(const LoadedSuite& suite, absl::Time now = kQuickResultNow,
                                 double speed = 1) {
  static std::mt19937_64 rng{12345};
  v1::RunResult r;
  r.mutable_suite()->set_name(suite.spec.name());
  r.mutable_suite()->set_sha256(suite.sha256);
  std::string nonce(16, '\0');
  for (char& c : nonce) c = static_cast<char>(rng());
  r.set_nonce(nonce);
  *r.mutable_started_at() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(now) - 600);
  *r.mutable_finished_at() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(now) - 60);
  r.mutable_backend()->set_name("cpu");
  r.set_local_score(999999);  // ignored by the collector
  for (const v1::Workload& w : suite.spec.workloads()) {
    for (const std::string& f : suite.spec.formats()) {
      v1::CaseResult* c = r.add_cases();
      c->set_name(CaseName(w.name(), f));
      c->set_workload(w.name());
      c->set_format(f);
      if (w.kind() == v1::WORKLOAD_KIND_SPECULATIVE) {
        c->set_status(v1::CASE_STATUS_NOT_RUN);
        c->set_reason("not selected (--format, --workload)");
        continue;
      }
      c->set_status(v1::CASE_STATUS_OK);
      c->mutable_self_check()->set_status(v1::SELF_CHECK_STATUS_PASSED);
      c->set_timed_runs(2);
      for (const v1::MetricSpec& spec : w.metrics()) {
        double ref = 0;
        for (const v1::Reference& x : spec.references()) {
          if (x.format() == f) ref = x.value();
        }
        ref = HigherIsBetter(spec.kind()) ? ref * speed : ref / speed;
        v1::Measurement* m = c->add_measurements();
        m->set_name(spec.name());
        m->set_kind(spec.kind());
        m->set_unit(UnitOf(spec.kind()));
        m->set_median(ref);
        m->set_min(ref * 0.99);
        m->set_max(ref * 1.01);
        m->set_stddev(ref * 0.01);
        m->add_samples(ref * 0.99);
        m->add_samples(ref * 1.01);
      }
    }
  }
  return r;
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_COLLECTOR_QUICK_RESULT_H_
