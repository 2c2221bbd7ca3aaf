// Where the agent keeps its files, after the XDG Base Directory spec:
//   config: $XDG_CONFIG_HOME/aiscore (default ~/.config/aiscore): the signing key
//   data:   $XDG_DATA_HOME/aiscore  (default ~/.local/share/aiscore):
//           runs/ (every run, signed, and its JSON), queue/ (results not yet
//           acknowledged by a collector), queue/rejected/
// Directories are created on first use with mode 0700.
#ifndef AISCORE_AGENT_CLI_XDG_DIRS_H_
#define AISCORE_AGENT_CLI_XDG_DIRS_H_

#include <filesystem>

#include "absl/status/statusor.h"

namespace aiscore {

// $XDG_CONFIG_HOME/aiscore, created if missing.
absl::StatusOr<std::filesystem::path> ConfigDir();
// $XDG_DATA_HOME/aiscore/<sub>, created if missing.
absl::StatusOr<std::filesystem::path> DataDir(const std::filesystem::path& sub = {});

// The default key file: ConfigDir()/key.
absl::StatusOr<std::filesystem::path> DefaultKeyPath();
// The queue of results to submit: DataDir("queue").
absl::StatusOr<std::filesystem::path> QueueDir();
// Saved runs: DataDir("runs").
absl::StatusOr<std::filesystem::path> RunsDir();

}  // namespace aiscore

#endif  // AISCORE_AGENT_CLI_XDG_DIRS_H_
