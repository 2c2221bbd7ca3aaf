// Tests of collector/store/schema: migration from an empty file and from every
// earlier version, idempotent re-open, and refusal of a newer file.
#include "collector/store/schema.h"

#include <gtest/gtest.h>

#include <string>

#include "absl/strings/str_cat.h"
#include "tests/collector/store/open_database.h"
#include "tests/temp_dir.h"

namespace aiscore::collector {
namespace {

int64_t CountTables(Database& db) {
  absl::StatusOr<Statement> stmt =
      db.Prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'");
  EXPECT_TRUE(stmt.ok());
  EXPECT_TRUE(*stmt->Step());
  return stmt->ColumnInt64(0);
}

TEST(SchemaTest, MigrationsAreNumberedInOrder) {
  int expected = 1;
  for (const Migration& m : Migrations()) EXPECT_EQ(m.version, expected++);
  EXPECT_EQ(SchemaVersion(), static_cast<int>(Migrations().size()));
}

TEST(SchemaTest, MigratesAnInMemoryDatabase) {
  std::unique_ptr<Database> db = OpenOrDie(":memory:");
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_EQ(*ReadSchemaVersion(*db), SchemaVersion());
}

TEST(SchemaTest, MigratesAnEmptyFileAndReopensIdempotently) {
  TempDir dir;
  const std::string path = dir.Path("store.db");
  int64_t tables = 0;
  {
    std::unique_ptr<Database> db = OpenOrDie(path);
    EXPECT_EQ(*ReadSchemaVersion(*db), 0);
    absl::Status s = Migrate(*db);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(*ReadSchemaVersion(*db), SchemaVersion());
    tables = CountTables(*db);
    EXPECT_GE(tables, 5);
    ASSERT_TRUE(Migrate(*db).ok());  // again on the same connection
  }
  std::unique_ptr<Database> db = OpenOrDie(path);
  ASSERT_TRUE(Migrate(*db).ok());
  EXPECT_EQ(*ReadSchemaVersion(*db), SchemaVersion());
  EXPECT_EQ(CountTables(*db), tables);
}

TEST(SchemaTest, MigratesFromEveryEarlierVersion) {
  for (int from = 0; from < SchemaVersion(); ++from) {
    SCOPED_TRACE(absl::StrCat("from version ", from));
    TempDir dir;
    const std::string path = dir.Path(absl::StrCat("v", from, ".db"));
    {
      std::unique_ptr<Database> db = OpenOrDie(path);
      ASSERT_TRUE(MigrateTo(*db, from).ok());
      EXPECT_EQ(*ReadSchemaVersion(*db), from);
    }
    std::unique_ptr<Database> db = OpenOrDie(path);
    absl::Status s = Migrate(*db);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(*ReadSchemaVersion(*db), SchemaVersion());
  }
}

TEST(SchemaTest, RefusesAFileNewerThanTheCode) {
  TempDir dir;
  const std::string path = dir.Path("newer.db");
  std::unique_ptr<Database> db = OpenOrDie(path);
  ASSERT_TRUE(db->Execute(absl::StrCat("PRAGMA user_version = ", SchemaVersion() + 1)).ok());
  absl::Status s = Migrate(*db);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_NE(s.message().find("newer collector"), absl::string_view::npos) << s;
  EXPECT_EQ(*ReadSchemaVersion(*db), SchemaVersion() + 1);  // untouched
  EXPECT_EQ(CountTables(*db), 0);
}

}  // namespace
}  // namespace aiscore::collector
