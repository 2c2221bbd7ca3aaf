#include "collector/store/sqlite_db.h"

#include <sqlite3.h>

#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"

namespace aiscore::collector {
namespace {

absl::StatusCode CodeFor(int code) {
  switch (code & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return absl::StatusCode::kUnavailable;
    case SQLITE_CONSTRAINT:
      return absl::StatusCode::kAlreadyExists;
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_AUTH:
      return absl::StatusCode::kPermissionDenied;
    case SQLITE_CANTOPEN:
    case SQLITE_NOTFOUND:
      return absl::StatusCode::kNotFound;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
    case SQLITE_ERROR:
      return absl::StatusCode::kInvalidArgument;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return absl::StatusCode::kDataLoss;
    default:
      return absl::StatusCode::kInternal;
  }
}

// A non-null pointer for empty views: SQLite binds NULL for a null pointer.
const char* NonNull(std::string_view value) { return value.data() != nullptr ? value.data() : ""; }

// absl here is Debian's 20220623, whose string_view is not std::string_view.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

absl::StatusOr<std::unique_ptr<Database>> Database::Open(const std::string& path,
                                                         const Options& options) {
  int flags = SQLITE_OPEN_NOMUTEX;
  if (options.read_only) {
    flags |= SQLITE_OPEN_READONLY;
  } else {
    flags |= SQLITE_OPEN_READWRITE;
    if (options.create) flags |= SQLITE_OPEN_CREATE;
  }
  sqlite3* handle = nullptr;
  int rc = sqlite3_open_v2(path.c_str(), &handle, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string message = handle != nullptr ? sqlite3_errmsg(handle) : sqlite3_errstr(rc);
    sqlite3_close_v2(handle);
    return absl::Status(CodeFor(rc), absl::StrCat("opening SQLite database ", path, ": ", message,
                                                  " (code ", rc, ")"));
  }
  sqlite3_extended_result_codes(handle, 1);
  std::unique_ptr<Database> db(new Database(handle, path));
  rc = sqlite3_busy_timeout(handle, options.busy_timeout_ms);
  if (rc != SQLITE_OK) return db->Error("sqlite3_busy_timeout", rc);
  if (!options.read_only) {
    // journal_mode returns the mode in effect; ":memory:" stays "memory".
    absl::StatusOr<Statement> wal = db->Prepare("PRAGMA journal_mode=WAL");
    if (!wal.ok()) return wal.status();
    absl::StatusOr<bool> row = wal->Step();
    if (!row.ok()) return row.status();
    std::string mode = *row ? wal->ColumnBytes(0) : "";
    wal->Reset();
    if (mode != "wal" && mode != "memory") {
      return absl::FailedPreconditionError(
          absl::StrCat("opening ", path, ": journal_mode=WAL not accepted (mode is '", mode, "')"));
    }
  }
  if (absl::Status s = db->Execute("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON"); !s.ok()) {
    return s;
  }
  return db;
}

Database::~Database() { sqlite3_close_v2(db_); }

absl::Status Database::Error(std::string_view sql, int code) const {
  return absl::Status(CodeFor(code), absl::StrCat("SQLite error in \"", Sv(sql), "\" on ", path_,
                                                  ": ", sqlite3_errmsg(db_), " (code ", code, ")"));
}

absl::Status Database::Execute(std::string_view sql) {
  std::string text(sql);
  int rc = sqlite3_exec(db_, text.c_str(), nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return Error(sql, rc);
  return absl::OkStatus();
}

absl::StatusOr<Statement> Database::Prepare(std::string_view sql) {
  sqlite3_stmt* stmt = nullptr;
  const char* tail = nullptr;
  int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                              SQLITE_PREPARE_PERSISTENT, &stmt, &tail);
  if (rc != SQLITE_OK) return Error(sql, rc);
  if (stmt == nullptr)
    return absl::InvalidArgumentError(absl::StrCat("empty SQL: \"", Sv(sql), "\""));
  Statement result(this, stmt, std::string(sql));
  // One statement per Statement: trailing SQL would be silently ignored.
  for (const char* p = tail; p != nullptr && p < sql.data() + sql.size(); ++p) {
    if (*p != ' ' && *p != '\n' && *p != '\t' && *p != ';') {
      return absl::InvalidArgumentError(
          absl::StrCat("more than one statement in \"", Sv(sql), "\": use Execute"));
    }
  }
  return result;
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

Statement::Statement(Statement&& other) noexcept
    : db_(std::exchange(other.db_, nullptr)),
      stmt_(std::exchange(other.stmt_, nullptr)),
      sql_(std::move(other.sql_)) {}

Statement& Statement::operator=(Statement&& other) noexcept {
  if (this != &other) {
    sqlite3_finalize(stmt_);
    db_ = std::exchange(other.db_, nullptr);
    stmt_ = std::exchange(other.stmt_, nullptr);
    sql_ = std::move(other.sql_);
  }
  return *this;
}

absl::Status Statement::BindResult(int code, int index) {
  if (code == SQLITE_OK) return absl::OkStatus();
  absl::Status s = db_->Error(sql_, code);
  return absl::Status(s.code(), absl::StrCat(s.message(), " binding parameter ", index));
}

absl::Status Statement::BindInt64(int index, int64_t value) {
  return BindResult(sqlite3_bind_int64(stmt_, index, value), index);
}

absl::Status Statement::BindDouble(int index, double value) {
  if (!std::isfinite(value)) return BindNull(index);
  return BindResult(sqlite3_bind_double(stmt_, index, value), index);
}

absl::Status Statement::BindText(int index, std::string_view value) {
  return BindResult(sqlite3_bind_text64(stmt_, index, NonNull(value), value.size(),
                                        SQLITE_TRANSIENT, SQLITE_UTF8),
                    index);
}

absl::Status Statement::BindBlob(int index, std::string_view value) {
  return BindResult(
      sqlite3_bind_blob64(stmt_, index, NonNull(value), value.size(), SQLITE_TRANSIENT), index);
}

absl::Status Statement::BindNull(int index) {
  return BindResult(sqlite3_bind_null(stmt_, index), index);
}

absl::StatusOr<bool> Statement::Step() {
  int rc = sqlite3_step(stmt_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  return db_->Error(sql_, rc);
}

absl::Status Statement::Run() {
  absl::StatusOr<bool> row = Step();
  if (!row.ok()) return row.status();
  if (*row)
    return absl::InternalError(absl::StrCat("\"", sql_, "\" returned a row; expected none"));
  return absl::OkStatus();
}

void Statement::Reset() {
  sqlite3_reset(stmt_);  // returns the last Step's error, already reported
  sqlite3_clear_bindings(stmt_);
}

bool Statement::ColumnIsNull(int column) const {
  return sqlite3_column_type(stmt_, column) == SQLITE_NULL;
}

int64_t Statement::ColumnInt64(int column) const { return sqlite3_column_int64(stmt_, column); }

double Statement::ColumnDouble(int column) const {
  if (ColumnIsNull(column)) return std::numeric_limits<double>::quiet_NaN();
  return sqlite3_column_double(stmt_, column);
}

std::string Statement::ColumnBytes(int column) const {
  // sqlite3_column_blob never converts text, so the bytes are those stored.
  const void* data = sqlite3_column_blob(stmt_, column);
  int size = sqlite3_column_bytes(stmt_, column);
  if (data == nullptr || size <= 0) return std::string();
  return std::string(static_cast<const char*>(data), static_cast<size_t>(size));
}

Transaction::~Transaction() {
  if (open_) (void)Rollback();
}

absl::Status Transaction::Begin() {
  if (open_) return absl::FailedPreconditionError("transaction already begun");
  absl::Status s = db_.Execute(mode_ == Mode::kImmediate ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED");
  if (s.ok()) open_ = true;
  return s;
}

absl::Status Transaction::Commit() {
  if (!open_) return absl::FailedPreconditionError("commit without an open transaction");
  absl::Status s = db_.Execute("COMMIT");
  if (s.ok()) open_ = false;
  return s;
}

absl::Status Transaction::Rollback() {
  if (!open_) return absl::OkStatus();
  open_ = false;
  // A failed COMMIT or statement may already have ended the transaction.
  if (sqlite3_get_autocommit(db_.handle())) return absl::OkStatus();
  return db_.Execute("ROLLBACK");
}

}  // namespace aiscore::collector
