// The spec of a suite, built-in ("v1", "quick") or a .textproto path, for the
// scoring tests; a suite that does not load fails the test and gives an empty
// spec.
#ifndef AISCORE_TESTS_SCORING_SUITE_FIXTURE_H_
#define AISCORE_TESTS_SCORING_SUITE_FIXTURE_H_

#include <gtest/gtest.h>

#include <string>

#include "absl/status/statusor.h"
#include "suites/suite_loader.h"

namespace aiscore {

inline v1::SuiteSpec Suite(const std::string& name) {
  absl::StatusOr<LoadedSuite> loaded = LoadSuite(name);
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  return loaded.ok() ? loaded->spec : v1::SuiteSpec();
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_SCORING_SUITE_FIXTURE_H_
