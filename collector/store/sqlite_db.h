// Thin RAII wrappers over the SQLite C API, the only code in the collector that
// calls sqlite3_* directly.
//
// Database: one connection. Open() applies the collector's settings: WAL journal
//   (on writable files), synchronous=FULL, a busy timeout and foreign_keys=ON.
//   A connection is not thread-safe: use it from one thread at a time (it is
//   opened with SQLITE_OPEN_NOMUTEX). It owns its sqlite3 handle and must
//   outlive every Statement prepared on it.
// Statement: one prepared statement, prepared once and reused. Values are only
//   ever bound as parameters (never pasted into SQL text); text and blobs are
//   bound with explicit lengths, so NUL bytes and invalid UTF-8 are stored and
//   read back verbatim. Call Reset() when done with a row set: a SELECT that is
//   not reset keeps its read snapshot open.
// Transaction: BEGIN IMMEDIATE (or deferred, for readers) on Begin(); rolls back
//   in its destructor unless Commit() succeeded.
//
// Every error is an absl::Status naming the SQL and sqlite3_errmsg().
#ifndef AISCORE_COLLECTOR_STORE_SQLITE_DB_H_
#define AISCORE_COLLECTOR_STORE_SQLITE_DB_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;
struct sqlite3_stmt;

namespace aiscore::collector {

class Statement;

class Database {
 public:
  struct Options {
    bool read_only = false;      // SQLITE_OPEN_READONLY; otherwise read-write
    bool create = true;          // create the file if missing (ignored when read_only)
    int busy_timeout_ms = 5000;  // how long to wait on another connection's lock
  };

  // Opens `path` (":memory:" for a private in-memory database).
  static absl::StatusOr<std::unique_ptr<Database>> Open(const std::string& path,
                                                        const Options& options);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs fixed SQL text with no parameters (DDL, PRAGMA, several statements
  // separated by ';'). Never build `sql` from values: use Prepare and Bind.
  absl::Status Execute(std::string_view sql);
  absl::StatusOr<Statement> Prepare(std::string_view sql);

  // An error status for `sql` carrying sqlite3_errmsg() and the result code.
  absl::Status Error(std::string_view sql, int code) const;

  sqlite3* handle() const { return db_; }
  const std::string& path() const { return path_; }

 private:
  Database(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

// Marks a byte string to bind as a BLOB (plain strings bind as TEXT).
struct Blob {
  std::string_view bytes;
};

class Statement {
 public:
  Statement() = default;
  ~Statement();
  Statement(Statement&& other) noexcept;
  Statement& operator=(Statement&& other) noexcept;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  // Parameters are 1-based, as in SQLite.
  absl::Status BindInt64(int index, int64_t value);
  absl::Status BindDouble(int index, double value);  // a non-finite value binds NULL
  absl::Status BindText(int index, std::string_view value);
  absl::Status BindBlob(int index, std::string_view value);
  absl::Status BindNull(int index);
  // Binds `values` to parameters 1, 2, ... in order: integers as INTEGER,
  // floating point as REAL (non-finite: NULL), strings as TEXT, Blob as BLOB.
  template <typename... Values>
  absl::Status BindAll(const Values&... values) {
    absl::Status status;
    int index = 0;
    ((status.ok() ? (status = BindOne(++index, values), 0) : 0), ...);
    return status;
  }

  // Runs one step: true when a row is available, false when done.
  absl::StatusOr<bool> Step();
  // Runs to completion a statement expected to return no row.
  absl::Status Run();
  // Steps through every row, calling `on_row` for each (it reads the columns
  // of this statement); stops at the first error, its own or SQLite's.
  template <typename OnRow>
  absl::Status ForEachRow(OnRow&& on_row) {
    for (;;) {
      absl::StatusOr<bool> row = Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::OkStatus();
      if (absl::Status s = on_row(); !s.ok()) return s;
    }
  }
  // Resets the statement and clears its bindings, ready for reuse.
  void Reset();

  // Columns are 0-based. Reading a NULL gives 0, NaN, or "".
  bool ColumnIsNull(int column) const;
  int64_t ColumnInt64(int column) const;
  double ColumnDouble(int column) const;
  std::string ColumnBytes(int column) const;  // text or blob, verbatim

  const std::string& sql() const { return sql_; }

 private:
  friend class Database;
  Statement(Database* db, sqlite3_stmt* stmt, std::string sql)
      : db_(db), stmt_(stmt), sql_(std::move(sql)) {}
  absl::Status BindResult(int code, int index);
  absl::Status BindOne(int index, const Blob& value) { return BindBlob(index, value.bytes); }
  absl::Status BindOne(int index, std::string_view value) { return BindText(index, value); }
  absl::Status BindOne(int index, const std::string& value) { return BindText(index, value); }
  absl::Status BindOne(int index, const char* value) { return BindText(index, value); }
  absl::Status BindOne(int index, double value) { return BindDouble(index, value); }
  absl::Status BindOne(int index, bool value) { return BindInt64(index, value ? 1 : 0); }
  template <typename Int>
  requires std::is_integral_v<Int> absl::Status BindOne(int index, Int value) {
    return BindInt64(index, static_cast<int64_t>(value));
  }

  Database* db_ = nullptr;
  sqlite3_stmt* stmt_ = nullptr;
  std::string sql_;
};

class Transaction {
 public:
  enum class Mode { kImmediate, kDeferred };
  explicit Transaction(Database& db, Mode mode = Mode::kImmediate) : db_(db), mode_(mode) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  absl::Status Begin();
  // On failure the transaction is rolled back by the destructor.
  absl::Status Commit();
  absl::Status Rollback();

 private:
  Database& db_;
  Mode mode_;
  bool open_ = false;
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_STORE_SQLITE_DB_H_
