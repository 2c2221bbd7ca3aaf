// The collector store's schema: its version and the forward-only migrations
// that build it, one SQL script per version.
//
// The version lives in PRAGMA user_version (0 for an empty file). Migrate()
// applies every migration above the file's version in order, each in its own
// IMMEDIATE transaction that also sets user_version, so a crash leaves the file
// at a whole version and a concurrent migrator waits, re-reads the version and
// skips what is done. A file newer than this code is refused, never touched.
// Migrations are append-only: never edit one that has shipped, add the next.
//
// Thread-safety: these functions use the Database they are given; the caller
// must not use it from another thread meanwhile.
#ifndef AISCORE_COLLECTOR_STORE_SCHEMA_H_
#define AISCORE_COLLECTOR_STORE_SCHEMA_H_

#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collector/store/sqlite_db.h"

namespace aiscore::collector {

struct Migration {
  int version;           // user_version after this migration; 1, 2, ... in order
  std::string_view sql;  // fixed DDL, no values
};

// Every migration, in order; migrations()[i].version == i + 1.
std::span<const Migration> Migrations();

// The version this code writes and reads: the last migration's.
int SchemaVersion();

// PRAGMA user_version of `db`.
absl::StatusOr<int> ReadSchemaVersion(Database& db);

// Brings `db` to SchemaVersion(). FailedPrecondition when the file is newer.
absl::Status Migrate(Database& db);

// Brings `db` to `target` (<= SchemaVersion()); for tests of each earlier version.
absl::Status MigrateTo(Database& db, int target);

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_STORE_SCHEMA_H_
