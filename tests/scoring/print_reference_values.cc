// aiscore_print_reference_values SUITE: prints, for every scored metric of a
// suite, the `references { format: ... value: ... }` lines computed from the
// suite's reference device (scoring/reference_values.h), with 6 significant
// digits, indented as in suites/*.textproto, so that a suite author can paste
// them into the file. Unscored metrics get their values as a comment.
//
// SUITE is a built-in suite name ("v1", "quick") or a .textproto path. The
// suite must parse and validate, so a new suite needs placeholder references
// (any positive value) before its real ones are printed. Exit code 0 on
// success, 1 on an error (on stderr), 2 on a usage error.
#include <cstdio>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/str_format.h"
#include "scoring/reference_values.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

int Run(const std::string& suite_name) {
  absl::StatusOr<LoadedSuite> loaded = LoadSuite(suite_name);
  if (!loaded.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(loaded.status().message()).c_str());
    return 1;
  }
  const v1::SuiteSpec& suite = loaded->spec;
  std::printf("# suite \"%s\" (%s), reference device: %s\n", suite.name().c_str(),
              loaded->origin.c_str(), suite.reference_device().description().c_str());
  for (const v1::Workload& workload : suite.workloads()) {
    for (const v1::MetricSpec& metric : workload.metrics()) {
      const bool scored = metric.sub_score() != v1::SUB_SCORE_UNSPECIFIED;
      std::printf("# workload \"%s\" metric \"%s\" (%s%s)\n", workload.name().c_str(),
                  metric.name().c_str(), v1::MetricKind_Name(metric.kind()).c_str(),
                  scored ? "" : ", not scored");
      std::string unscored_values;
      for (const std::string& format : suite.formats()) {
        absl::StatusOr<double> value = ReferenceValue(suite, workload, metric.kind(), format);
        if (!value.ok()) {
          if (scored) {
            std::fprintf(stderr, "error: %s\n", std::string(value.status().message()).c_str());
            return 1;
          }
          absl::StrAppendFormat(&unscored_values, " %s=(%s)", format, value.status().message());
          continue;
        }
        if (scored) {
          std::printf("%s\n", absl::StrFormat("      references { format: \"%s\" value: %.6g }",
                                              format, *value)
                                  .c_str());
        } else {
          absl::StrAppendFormat(&unscored_values, " %s=%.6g", format, *value);
        }
      }
      if (!scored) std::printf("#  %s\n", unscored_values.c_str());
    }
  }
  return 0;
}

}  // namespace
}  // namespace aiscore

int main(int argc, char** argv) {
  if (argc != 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    std::fprintf(argc == 2 ? stdout : stderr,
                 "usage: %s SUITE\n"
                 "Prints the reference values of every scored metric of SUITE (a built-in\n"
                 "name such as v1 or quick, or a .textproto path) as textproto lines.\n",
                 argv[0]);
    return argc == 2 ? 0 : 2;
  }
  return aiscore::Run(argv[1]);
}
