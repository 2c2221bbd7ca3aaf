// The operator's commands of `aiscore-collector admin` (DESIGN.md: the operator
// bans keys, rescores after a scoring change, backs the database up), over
// an open ResultStore. Each writes what it did, one line, to `out`; errors
// are returned, never printed.
//
// They may run while a collector serves the same file: SQLite serializes the
// writes (a rescore holds the write lock batch by batch, then for the rebuild
// of the aggregates; submissions wait meanwhile, up to the busy timeout).
//
// Thread-safety: as the store's.
#ifndef AISCORE_COLLECTOR_ADMIN_ADMIN_COMMANDS_H_
#define AISCORE_COLLECTOR_ADMIN_ADMIN_COMMANDS_H_

#include <ostream>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collector/store/result_store.h"
#include "collector/verify/submission_verifier.h"

namespace aiscore::collector {

// The raw public key `who` names: a key fingerprint as the collector shows it
// ("SHA256:" and 32 hex digits) of a key the store knows, 64 hex digits of a
// public key, or "result:ID" for the key that signed a stored result.
// InvalidArgument for anything else, NotFound when nothing matches.
absl::StatusOr<std::string> ResolveKey(ResultStore& store, std::string_view who);

// Bans (or lifts the ban on) the key `who` names (ResolveKey).
absl::Status Ban(ResultStore& store, std::string_view who, bool banned, std::ostream& out);

// Recomputes every stored result's scores from its envelope with the
// verifier's suites and the current scoring, then every aggregate.
absl::Status RescoreAll(ResultStore& store, const SubmissionVerifier& verifier, std::ostream& out);

enum class ExportFormat { kCsv, kJson };

// The export's columns, comma-separated, in order (the CSV header; the JSON
// member names).
std::string ExportColumns();

// Writes every result (no envelope, no cases) in order of arrival: CSV with a
// header row (RFC 4180 quoting, CRLF line ends, numbers in shortest
// round-trip form, empty for a missing sub-score), or one JSON array of
// objects (numbers as numbers, ranked as a boolean, null for a missing
// sub-score, invalid UTF-8 replaced by U+FFFD). Keys appear as their
// fingerprints, times as RFC 3339 UTC with microseconds.
absl::Status Export(ResultStore& store, ExportFormat format, std::ostream& out);

// A consistent copy of the database at `destination` (ResultStore::Backup).
absl::Status BackupTo(ResultStore& store, const std::string& destination, std::ostream& out);

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_ADMIN_ADMIN_COMMANDS_H_
