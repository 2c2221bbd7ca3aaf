// Loads and validates benchmark suites (proto/aiscore/v1/suite.proto) from
// textproto files.
//
// A suite's identity is its name and the SHA-256 of the file's exact bytes:
// results carry both, and the collector ranks only suites it has registered.
// The built-in suites (suites/v1.textproto and suites/quick.textproto) are
// compiled into the binary byte for byte, so every agent and collector of a
// build agrees on their hashes. Validation checks every field and names the
// one that is wrong ("suite 'v1': workloads[1] 'long': prompt_tokens = 0:
// must be positive"). Functions are thread-safe.
#ifndef AISCORE_SUITES_SUITE_LOADER_H_
#define AISCORE_SUITES_SUITE_LOADER_H_

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/engine/model_config.h"
#include "aiscore/v1/result.pb.h"
#include "aiscore/v1/suite.pb.h"

namespace aiscore {

struct LoadedSuite {
  v1::SuiteSpec spec;
  std::string sha256;  // lower-case hex SHA-256 of the textproto bytes
  std::string origin;  // "built-in v1" or the file's path
};

// Parses and validates textproto `text`; `origin` names it in errors.
absl::StatusOr<LoadedSuite> ParseSuite(std::string_view text, std::string_view origin);
// Reads, parses and validates a textproto file.
absl::StatusOr<LoadedSuite> LoadSuiteFile(const std::filesystem::path& path);
// A built-in suite by name ("v1", "quick"), or else a textproto file path.
absl::StatusOr<LoadedSuite> LoadSuite(std::string_view name_or_path);
// A built-in suite by name; NotFound naming the built-in suites for any other
// name. Never reads a file: the call for names that come from the network
// (the collector's pages, whose ?suite= must not open /dev/zero or a FIFO).
absl::StatusOr<LoadedSuite> LoadBuiltInSuite(std::string_view name);
// The names of the built-in suites, in a fixed order.
std::vector<std::string> BuiltInSuiteNames();

// Checks every field of a parsed suite; the error names the field.
absl::Status ValidateSuite(const v1::SuiteSpec& suite);

// Lower-case hex SHA-256 of `bytes`.
std::string Sha256Hex(std::string_view bytes);

// The model shape of a suite as the engine's config.
ModelConfig ToModelConfig(const v1::ModelShape& shape);
// The engine's config as a suite shape (for custom models and estimates).
v1::ModelShape ToModelShape(const ModelConfig& config);
// The shape named `name` in `suite`, or nullptr.
const v1::ModelShape* FindModel(const v1::SuiteSpec& suite, std::string_view name);

// "<workload>/<format>": the name of a case.
std::string CaseName(std::string_view workload, std::string_view format);

// Whether a workload of this kind measures metrics of that kind.
bool WorkloadMeasures(v1::WorkloadKind workload, v1::MetricKind metric);
// Whether a metric of this kind is better when larger (rates) or smaller (times).
bool HigherIsBetter(v1::MetricKind kind);
// The unit of a metric of this kind.
v1::Unit UnitOf(v1::MetricKind kind);
// How reports and pages write a unit: "t/s", "s", "fraction", "x"; "" unspecified.
std::string UnitSymbol(v1::Unit unit);
// How reports and pages write a case's status: "ok", "does not fit",
// "self-check failed", "not run", "failed"; "unknown" otherwise.
std::string CaseStatusName(v1::CaseStatus status);

}  // namespace aiscore

#endif  // AISCORE_SUITES_SUITE_LOADER_H_
