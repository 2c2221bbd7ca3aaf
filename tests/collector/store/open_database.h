// Opens a test database file with the default options, failing the test
// (and returning null) when it cannot.
#ifndef AISCORE_TESTS_COLLECTOR_STORE_OPEN_DATABASE_H_
#define AISCORE_TESTS_COLLECTOR_STORE_OPEN_DATABASE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "collector/store/sqlite_db.h"

namespace aiscore::collector {

inline std::unique_ptr<Database> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path, Database::Options{});
  EXPECT_TRUE(db.ok()) << db.status();
  return db.ok() ? std::move(*db) : nullptr;
}

}  // namespace aiscore::collector

#endif  // AISCORE_TESTS_COLLECTOR_STORE_OPEN_DATABASE_H_
