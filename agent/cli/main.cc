// aiscore: runs LLM inference benchmarks on this machine. See README.md.
#include <cstdio>
#include <functional>

#include "CLI/CLI.hpp"
#include "agent/cli/commands.h"

namespace aiscore {

int ReportError(const absl::Status& status) {
  std::fprintf(stderr, "aiscore: %s\n", std::string(status.message()).c_str());
  return status.code() == absl::StatusCode::kInvalidArgument ? kExitUsage : kExitFailure;
}

}  // namespace aiscore

int main(int argc, char** argv) {
  CLI::App app{"aiscore: how fast do local LLMs run on this machine"};
  app.require_subcommand(1);
  std::function<int()> run;
  aiscore::AddEvalCommand(app, run);
  aiscore::AddExportGgufCommand(app, run);
  aiscore::AddBenchCommand(app, run);
  aiscore::AddRunCommand(app, run);
  aiscore::AddKeyCommand(app, run);
  aiscore::AddSubmitCommand(app, run);
  aiscore::AddLeaderboardCommand(app, run);
  aiscore::AddPredictCommand(app, run);
  aiscore::AddInfoCommand(app, run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return aiscore::kExitUsage;
  }
  return run ? run() : aiscore::kExitUsage;
}
