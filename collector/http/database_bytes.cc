#include "collector/http/database_bytes.h"

#include <filesystem>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace aiscore::collector {

absl::StatusOr<int64_t> SqliteDatabaseBytes(const std::string& path) {
  std::error_code error;
  const uintmax_t main_bytes = std::filesystem::file_size(path, error);
  if (error == std::errc::no_such_file_or_directory) {
    return absl::NotFoundError(absl::StrCat("no database file ", path));
  }
  if (error) {
    return absl::InternalError(absl::StrCat("cannot stat ", path, ": ", error.message()));
  }
  const std::string wal = path + "-wal";
  const uintmax_t wal_bytes = std::filesystem::file_size(wal, error);
  if (error && error != std::errc::no_such_file_or_directory) {
    return absl::InternalError(absl::StrCat("cannot stat ", wal, ": ", error.message()));
  }
  return static_cast<int64_t>(main_bytes + (error ? 0 : wal_bytes));
}

}  // namespace aiscore::collector
