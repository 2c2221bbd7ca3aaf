// SqliteDatabaseBytes: the disk space of a SQLite database in WAL mode, for
// the aiscore_database_bytes gauge (collector_metrics.h).
//
// Stateless; safe to call from any thread. It only stats files, so it does not
// touch SQLite's locks and may run while the store writes.
#ifndef AISCORE_COLLECTOR_HTTP_DATABASE_BYTES_H_
#define AISCORE_COLLECTOR_HTTP_DATABASE_BYTES_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"

namespace aiscore::collector {

// Bytes of the database file at `path` plus its write-ahead log `path`-wal
// (0 when there is none). NotFound when the main file does not exist (an
// in-memory database has none); Internal when a file cannot be stat'ed.
absl::StatusOr<int64_t> SqliteDatabaseBytes(const std::string& path);

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_HTTP_DATABASE_BYTES_H_
