// Tests of collector/store/sqlite_db: settings applied on open, verbatim binding,
// transactions that roll back unless committed, errors that name the SQL.
#include "collector/store/sqlite_db.h"

#include <gtest/gtest.h>

#include <cmath>

#include <string>

#include "tests/collector/store/open_database.h"
#include "tests/temp_dir.h"

namespace aiscore::collector {
namespace {

std::string QueryText(Database& db, const std::string& sql) {
  absl::StatusOr<Statement> stmt = db.Prepare(sql);
  EXPECT_TRUE(stmt.ok()) << stmt.status();
  absl::StatusOr<bool> row = stmt->Step();
  EXPECT_TRUE(row.ok() && *row) << sql;
  return stmt->ColumnBytes(0);
}

TEST(SqliteDbTest, OpenAppliesWalFullSyncAndForeignKeys) {
  TempDir dir;
  std::unique_ptr<Database> db = OpenOrDie(dir.Path("a.db"));
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(QueryText(*db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(QueryText(*db, "PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(QueryText(*db, "PRAGMA foreign_keys"), "1");
  EXPECT_EQ(QueryText(*db, "PRAGMA busy_timeout"), "5000");
}

TEST(SqliteDbTest, BlobAndTextRoundTripVerbatim) {
  std::unique_ptr<Database> db = OpenOrDie(":memory:");
  ASSERT_TRUE(db->Execute("CREATE TABLE t (b BLOB, s TEXT)").ok());
  const std::string values[] = {std::string("a\0b\0", 4), "", "'; DROP TABLE t; --",
                                std::string("\xff\xfe\xc3", 3), std::string(1 << 20, 'x')};
  absl::StatusOr<Statement> insert = db->Prepare("INSERT INTO t (b, s) VALUES (?1, ?2)");
  ASSERT_TRUE(insert.ok()) << insert.status();
  for (const std::string& v : values) {
    ASSERT_TRUE(insert->BindBlob(1, v).ok());
    ASSERT_TRUE(insert->BindText(2, v).ok());
    ASSERT_TRUE(insert->Run().ok());
    insert->Reset();
  }
  absl::StatusOr<Statement> select = db->Prepare("SELECT b, s, typeof(b) FROM t ORDER BY rowid");
  ASSERT_TRUE(select.ok());
  for (const std::string& v : values) {
    absl::StatusOr<bool> row = select->Step();
    ASSERT_TRUE(row.ok() && *row);
    EXPECT_EQ(select->ColumnBytes(0), v);
    EXPECT_EQ(select->ColumnBytes(1), v);
    EXPECT_EQ(select->ColumnBytes(2), "blob");  // an empty blob is not NULL
  }
  EXPECT_EQ(QueryText(*db, "SELECT count(*) FROM t"), "5");
}

TEST(SqliteDbTest, BindAllBindsEachValueByItsType) {
  std::unique_ptr<Database> db = OpenOrDie(":memory:");
  absl::StatusOr<Statement> s = db->Prepare(
      "SELECT typeof(?1), typeof(?2), typeof(?3), typeof(?4), typeof(?5), typeof(?6), ?2, ?3");
  ASSERT_TRUE(s.ok()) << s.status();
  const std::string text("a\0b", 3);
  ASSERT_TRUE(s->BindAll(text, Blob{text}, int64_t{1} << 40, 2.5, std::nan(""), true).ok());
  ASSERT_TRUE(*s->Step());
  EXPECT_EQ(s->ColumnBytes(0), "text");
  EXPECT_EQ(s->ColumnBytes(1), "blob");
  EXPECT_EQ(s->ColumnBytes(2), "integer");
  EXPECT_EQ(s->ColumnBytes(3), "real");
  EXPECT_EQ(s->ColumnBytes(4), "null");  // a non-finite double
  EXPECT_EQ(s->ColumnBytes(5), "integer");
  EXPECT_EQ(s->ColumnBytes(6), text);
  EXPECT_EQ(s->ColumnInt64(7), int64_t{1} << 40);
  s->Reset();
  // More values than parameters: the error names the index.
  EXPECT_FALSE(s->BindAll(1, 2, 3, 4, 5, 6, 7, 8, 9).ok());
}

TEST(SqliteDbTest, TransactionWithoutCommitRollsBack) {
  TempDir dir;
  std::unique_ptr<Database> db = OpenOrDie(dir.Path("t.db"));
  ASSERT_TRUE(db->Execute("CREATE TABLE t (x INTEGER)").ok());
  {
    Transaction txn(*db);
    ASSERT_TRUE(txn.Begin().ok());
    ASSERT_TRUE(db->Execute("INSERT INTO t VALUES (1)").ok());
  }
  EXPECT_EQ(QueryText(*db, "SELECT count(*) FROM t"), "0");
  {
    Transaction txn(*db);
    ASSERT_TRUE(txn.Begin().ok());
    ASSERT_TRUE(db->Execute("INSERT INTO t VALUES (2)").ok());
    ASSERT_TRUE(txn.Commit().ok());
  }
  EXPECT_EQ(QueryText(*db, "SELECT count(*) FROM t"), "1");
}

TEST(SqliteDbTest, ErrorsNameTheSqlAndSqliteMessage) {
  std::unique_ptr<Database> db = OpenOrDie(":memory:");
  absl::StatusOr<Statement> bad = db->Prepare("SELECT * FROM missing_table");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("SELECT * FROM missing_table"), absl::string_view::npos);
  EXPECT_NE(bad.status().message().find("no such table"), absl::string_view::npos);
  EXPECT_FALSE(db->Prepare("SELECT 1; SELECT 2").ok());  // a second statement is not ignored
}

TEST(SqliteDbTest, ReadOnlyOpenOfMissingFileFails) {
  TempDir dir;
  Database::Options options;
  options.read_only = true;
  EXPECT_FALSE(Database::Open(dir.Path("missing.db"), options).ok());
}

}  // namespace
}  // namespace aiscore::collector
