// The subcommands of the `aiscore` command: each registers its options on
// the CLI11 app and returns the process exit code when run.
#ifndef AISCORE_AGENT_CLI_COMMANDS_H_
#define AISCORE_AGENT_CLI_COMMANDS_H_

#include <functional>
#include <string>

#include "CLI/CLI.hpp"
#include "absl/status/status.h"

namespace aiscore {

// Exit codes, the same for every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // the work could not be done (bad file, no memory, ...)
inline constexpr int kExitUsage = 2;    // the command line was wrong

// Adds a subcommand; `run` is set to the function that executes it.
void AddEvalCommand(CLI::App& app, std::function<int()>& run);
void AddExportGgufCommand(CLI::App& app, std::function<int()>& run);
void AddBenchCommand(CLI::App& app, std::function<int()>& run);
void AddRunCommand(CLI::App& app, std::function<int()>& run);          // run_command.cc
void AddInfoCommand(CLI::App& app, std::function<int()>& run);         // info_command.cc
void AddKeyCommand(CLI::App& app, std::function<int()>& run);          // key_command.cc
void AddSubmitCommand(CLI::App& app, std::function<int()>& run);       // submit_command.cc
void AddLeaderboardCommand(CLI::App& app, std::function<int()>& run);  // leaderboard_command.cc
void AddPredictCommand(CLI::App& app, std::function<int()>& run);      // predict_command.cc

// Prints "aiscore: <message>" to stderr and returns the exit code for it.
int ReportError(const absl::Status& status);

}  // namespace aiscore

#endif  // AISCORE_AGENT_CLI_COMMANDS_H_
