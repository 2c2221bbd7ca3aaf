// Reporters over a RunResult: the table people read (markdown, the way
// llama-bench prints: pp512, tg128, ...), CSV and JSON for machines.
//
// Every reporter walks the same rows (one per measurement of a case, one per
// case without measurements) and takes its fields from one column list, so
// the formats cannot drift apart. CSV and JSON print numbers so that they
// parse back to the same doubles.
#ifndef AISCORE_AGENT_BENCH_REPORT_H_
#define AISCORE_AGENT_BENCH_REPORT_H_

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "aiscore/v1/result.pb.h"
#include "aiscore/v1/suite.pb.h"

namespace aiscore {

// Markdown table: model, format, size, params, backend, threads, test, result.
std::string FormatTable(const v1::RunResult& run);
// For the speculative cases of `run` that ran, a note and a markdown table:
// the measured cost ratio c, verify ratio v, break-even acceptance and
// speedup (at the acceptance rate the run realized) beside the predicted
// speedup at that rate and at rates 0.5 to 1.0 (SpeculativeSpeedup, with v = 1
// and with the measured v; k from `suite`, the suite `run` ran). Empty when
// there are none.
std::string FormatSpeculative(const v1::RunResult& run, const v1::SuiteSpec& suite);
// CSV with a header row; every figure, raw samples separated by ';'.
std::string FormatCsv(const v1::RunResult& run);
// The names of FormatCsv's columns, in order.
std::vector<std::string> CsvColumns();
// The RunResult as JSON (proto field names).
absl::StatusOr<std::string> FormatJson(const v1::RunResult& run);
absl::StatusOr<v1::RunResult> ParseJson(std::string_view json);

}  // namespace aiscore

#endif  // AISCORE_AGENT_BENCH_REPORT_H_
