#include "collector/store/schema.h"

#include "absl/strings/str_cat.h"

namespace aiscore::collector {
namespace {

// Version 1: agents, results, cases and the per-GPU aggregates.
//
// Times are microseconds since the Unix epoch on the collector's clock. Keys,
// nonces and envelopes are BLOBs stored verbatim. A result is aggregated when
// it is ranked: gpu_aggregates holds one row per (suite, gpu, backend) with its
// count and best (highest) score, and aggregate_scores holds that group's
// scores in an index ordered by (group_id, score), so a percentile is an
// indexed LIMIT/OFFSET walk over one group's scores and never touches results.
constexpr std::string_view kMigration1 = R"sql(
CREATE TABLE agents (
  public_key BLOB PRIMARY KEY NOT NULL,
  first_seen_us INTEGER NOT NULL,
  last_seen_us INTEGER NOT NULL,
  results INTEGER NOT NULL DEFAULT 0,
  ranked_results INTEGER NOT NULL DEFAULT 0,
  banned INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE results (
  id TEXT PRIMARY KEY NOT NULL,
  nonce BLOB NOT NULL UNIQUE,
  agent_key BLOB NOT NULL REFERENCES agents(public_key),
  suite TEXT NOT NULL,
  suite_sha256 TEXT NOT NULL,
  received_us INTEGER NOT NULL,
  gpu TEXT NOT NULL,
  backend TEXT NOT NULL,
  score REAL,
  status TEXT NOT NULL,
  flags INTEGER NOT NULL,
  ranked INTEGER NOT NULL,
  envelope BLOB NOT NULL
);
CREATE INDEX results_by_agent ON results(agent_key, received_us);
CREATE INDEX results_by_group ON results(suite, gpu, backend, received_us);
CREATE TABLE cases (
  result_id TEXT NOT NULL REFERENCES results(id) ON DELETE CASCADE,
  case_name TEXT NOT NULL,
  metric TEXT NOT NULL,
  median REAL,
  UNIQUE (result_id, case_name, metric)
);
CREATE TABLE gpu_aggregates (
  group_id INTEGER PRIMARY KEY,
  suite TEXT NOT NULL,
  gpu TEXT NOT NULL,
  backend TEXT NOT NULL,
  count INTEGER NOT NULL,
  best REAL NOT NULL,
  UNIQUE (suite, gpu, backend)
);
CREATE TABLE aggregate_scores (
  group_id INTEGER NOT NULL REFERENCES gpu_aggregates(group_id),
  score REAL NOT NULL,
  result_id TEXT NOT NULL REFERENCES results(id) ON DELETE CASCADE,
  PRIMARY KEY (group_id, score, result_id)
) WITHOUT ROWID;
)sql";

// Version 2: scores per format, exact running percentiles and sub-score
// medians, the best result of each group, and bans that take effect.
//
// result_scores holds each result's score and sub-scores over every format
// (format '') and over each format's cases alone. Results stored under
// version 1 get no rows here (their sub-scores were never kept); the
// collector rescores them from their envelopes when it opens such a file.
// gpu_groups replaces gpu_aggregates: one row per (suite, format, gpu, backend)
// of ranked results with its count, best score and result, p25 / median / p75
// of the score and the median of each sub-score, all kept exact on every
// insert through quantile cursors (collector/store/quantile_cursor.h; the
// cursors column). group_values indexes each group's values per statistic
// (0 score, 1 prefill, 2 decode, 3 latency, 4 long context, 5 speculative,
// 6 capacity) in (value, result_id) order: the cursors walk it.
constexpr std::string_view kMigration2 = R"sql(
DROP TABLE aggregate_scores;
DROP TABLE gpu_aggregates;
CREATE TABLE result_scores (
  result_id TEXT NOT NULL REFERENCES results(id) ON DELETE CASCADE,
  format TEXT NOT NULL,
  score REAL NOT NULL,
  prefill REAL NOT NULL,
  decode REAL NOT NULL,
  latency REAL NOT NULL,
  long_context REAL NOT NULL,
  speculative REAL NOT NULL,
  capacity REAL NOT NULL,
  PRIMARY KEY (result_id, format)
) WITHOUT ROWID;
CREATE TABLE gpu_groups (
  group_id INTEGER PRIMARY KEY,
  suite TEXT NOT NULL,
  format TEXT NOT NULL,
  gpu TEXT NOT NULL,
  backend TEXT NOT NULL,
  count INTEGER NOT NULL,
  best REAL NOT NULL,
  best_result_id TEXT NOT NULL,
  p25 REAL NOT NULL,
  median REAL NOT NULL,
  p75 REAL NOT NULL,
  prefill REAL NOT NULL,
  decode REAL NOT NULL,
  latency REAL NOT NULL,
  long_context REAL NOT NULL,
  speculative REAL NOT NULL,
  capacity REAL NOT NULL,
  cursors BLOB NOT NULL,
  UNIQUE (suite, format, gpu, backend)
);
CREATE TABLE group_values (
  group_id INTEGER NOT NULL REFERENCES gpu_groups(group_id) ON DELETE CASCADE,
  stat INTEGER NOT NULL,
  value REAL NOT NULL,
  result_id TEXT NOT NULL,
  PRIMARY KEY (group_id, stat, value, result_id)
) WITHOUT ROWID;
CREATE INDEX results_ranked_by_group ON results(suite, gpu, backend) WHERE ranked = 1;
)sql";

// Version 3: what start-up needs to know without reading every result.
//
// store_state holds named integers. 'unscored_through': the largest rowid of
// a result that is not a custom model (flag bit 4, ResultFlag::kFlagCustomModel)
// and has no overall ('') scores, 0 when there is none: computed once here (a
// file migrated from version 1 has such results until its rescore); the
// rescore sets it back to 0, and results stored since version 2 always carry
// their scores. So start-up's check (ResultStore::CountUnscored) reads only
// the rows up to it, none on a file that was rescored or never needed it.
constexpr std::string_view kMigration3 = R"sql(
CREATE TABLE store_state (
  name TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO store_state (name, value)
  SELECT 'unscored_through', coalesce(max(r.rowid), 0) FROM results r
  WHERE (r.flags & 4) = 0 AND NOT EXISTS
    (SELECT 1 FROM result_scores rs WHERE rs.result_id = r.id AND rs.format = '');
)sql";

constexpr Migration kMigrations[] = {
    {1, kMigration1},
    {2, kMigration2},
    {3, kMigration3},
};

absl::Status SetVersion(Database& db, int version) {
  // PRAGMA takes no bound parameters; `version` is a constant of this file,
  // never a value from input.
  return db.Execute(absl::StrCat("PRAGMA user_version = ", version));
}

}  // namespace

std::span<const Migration> Migrations() { return kMigrations; }

int SchemaVersion() { return kMigrations[std::size(kMigrations) - 1].version; }

absl::StatusOr<int> ReadSchemaVersion(Database& db) {
  absl::StatusOr<Statement> stmt = db.Prepare("PRAGMA user_version");
  if (!stmt.ok()) return stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  if (!row.ok()) return row.status();
  if (!*row) return absl::InternalError("PRAGMA user_version returned no row");
  return static_cast<int>(stmt->ColumnInt64(0));
}

namespace {

// A file written by a newer collector: reported, never touched.
absl::Status TooNew(Database& db, int version) {
  return absl::FailedPreconditionError(absl::StrCat(
      db.path(), " has schema version ", version, " but this collector knows only up to ",
      SchemaVersion(), "; run a newer collector (migrations are forward-only)"));
}

}  // namespace

absl::Status MigrateTo(Database& db, int target) {
  if (target < 0 || target > SchemaVersion()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no schema version ", target, "; this code knows 0 to ", SchemaVersion()));
  }
  for (const Migration& migration : kMigrations) {
    if (migration.version > target) break;
    Transaction txn(db);
    if (absl::Status s = txn.Begin(); !s.ok()) return s;
    // Read inside the transaction: another process may have migrated meanwhile.
    absl::StatusOr<int> current = ReadSchemaVersion(db);
    if (!current.ok()) return current.status();
    if (*current > SchemaVersion()) {
      return TooNew(db, *current);
    }
    if (*current >= migration.version) continue;
    if (*current != migration.version - 1) {
      return absl::InternalError(
          absl::StrCat("migration ", migration.version, " found version ", *current));
    }
    if (absl::Status s = db.Execute(migration.sql); !s.ok()) {
      return absl::Status(
          s.code(), absl::StrCat("migration to version ", migration.version, ": ", s.message()));
    }
    if (absl::Status s = SetVersion(db, migration.version); !s.ok()) return s;
    if (absl::Status s = txn.Commit(); !s.ok()) return s;
  }
  // A file already past `target` (or newer than the code) is reported, not touched.
  absl::StatusOr<int> current = ReadSchemaVersion(db);
  if (!current.ok()) return current.status();
  if (*current > SchemaVersion()) {
    return TooNew(db, *current);
  }
  return absl::OkStatus();
}

absl::Status Migrate(Database& db) { return MigrateTo(db, SchemaVersion()); }

}  // namespace aiscore::collector
