#include "agent/cli/xdg_dirs.h"

#include <cstdlib>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

// $var when set to an absolute path, else $HOME/fallback.
absl::StatusOr<fs::path> BaseDir(const char* var, const char* fallback) {
  const char* v = std::getenv(var);
  if (v != nullptr && v[0] == '/') return fs::path(v);
  const char* home = std::getenv("HOME");
  if (home == nullptr || home[0] != '/') {
    return absl::FailedPreconditionError(
        absl::StrCat("neither $", var, " nor $HOME is set to an absolute path; set one of them"));
  }
  return fs::path(home) / fallback;
}

absl::StatusOr<fs::path> Ensure(fs::path dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);  // best effort
  return dir;
}

}  // namespace

absl::StatusOr<fs::path> ConfigDir() {
  absl::StatusOr<fs::path> base = BaseDir("XDG_CONFIG_HOME", ".config");
  if (!base.ok()) return base.status();
  return Ensure(*base / "aiscore");
}

absl::StatusOr<fs::path> DataDir(const fs::path& sub) {
  absl::StatusOr<fs::path> base = BaseDir("XDG_DATA_HOME", ".local/share");
  if (!base.ok()) return base.status();
  return Ensure(sub.empty() ? *base / "aiscore" : *base / "aiscore" / sub);
}

absl::StatusOr<fs::path> DefaultKeyPath() {
  absl::StatusOr<fs::path> dir = ConfigDir();
  if (!dir.ok()) return dir.status();
  return *dir / "key";
}

absl::StatusOr<fs::path> QueueDir() { return DataDir("queue"); }
absl::StatusOr<fs::path> RunsDir() { return DataDir("runs"); }

}  // namespace aiscore
