// libFuzzer target: the suite loader (suites/suite_loader.h) on arbitrary
// text, as `aiscore run --suite FILE` reads it: textproto parse, then every
// validation rule. A suite that validates is then taken through what is
// computed from it: every reference value of every metric in every format
// (scoring/reference_values.h), which must come out as a Status or a number,
// never a crash or undefined behaviour.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "scoring/reference_values.h"
#include "suites/suite_loader.h"
#include "tests/fuzz/quiet_protobuf.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  aiscore::SilenceProtobufLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<aiscore::LoadedSuite> suite = aiscore::ParseSuite(text, "fuzz.textproto");
  if (!suite.ok()) return 0;
  const aiscore::v1::SuiteSpec& spec = suite->spec;
  for (const aiscore::v1::Workload& workload : spec.workloads()) {
    for (const aiscore::v1::MetricSpec& metric : workload.metrics()) {
      for (const std::string& format : spec.formats()) {
        (void)aiscore::ReferenceValue(spec, workload, metric.kind(), format);
      }
    }
  }
  (void)aiscore::CheckReferenceValues(spec);
  return 0;
}
