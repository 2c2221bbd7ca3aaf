// A small, hand-filled RunResult for the tests of agent/sign and
// agent/upload: one suite reference, a random 16-byte nonce, timestamps and
// one case with one measurement.
#ifndef AISCORE_TESTS_SIGN_TEST_RUN_RESULT_H_
#define AISCORE_TESTS_SIGN_TEST_RUN_RESULT_H_

#include <random>
#include <string>

#include "aiscore/v1/result.pb.h"

namespace aiscore {

inline aiscore::v1::RunResult TestRunResult() {
  static std::mt19937_64 rng{std::random_device{}()};
  aiscore::v1::RunResult r;
  r.mutable_suite()->set_name("v1");
  r.mutable_suite()->set_sha256(std::string(64, 'a'));
  std::string nonce(16, '\0');
  for (char& c : nonce) c = static_cast<char>(rng());
  r.set_nonce(nonce);
  r.mutable_started_at()->set_seconds(1700000000);
  r.mutable_finished_at()->set_seconds(1700000600);
  r.mutable_backend()->set_name("cpu");
  aiscore::v1::CaseResult* c = r.add_cases();
  c->set_name("chat/q4_k");
  c->set_workload("chat");
  c->set_format("q4_k");
  c->set_status(aiscore::v1::CASE_STATUS_OK);
  aiscore::v1::Measurement* m = c->add_measurements();
  m->set_name("tg128");
  m->set_unit(aiscore::v1::UNIT_TOKENS_PER_SECOND);
  m->set_median(42.5);
  m->add_samples(42.5);
  r.set_local_score(1234.5);
  return r;
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_SIGN_TEST_RUN_RESULT_H_
