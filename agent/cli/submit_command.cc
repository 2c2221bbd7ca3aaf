// `aiscore submit`: sends signed results to a collector. Results wait in the
// queue (agent/upload/result_queue.h) until the collector acknowledges them;
// `--pending` sends everything still there. Exit 0 when every file was
// acknowledged, 1 when any was rejected or could not be sent (it stays
// queued), 2 for a bad command line.
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "agent/cli/collector_flags.h"
#include "agent/cli/commands.h"
#include "agent/cli/xdg_dirs.h"
#include "agent/upload/collector_client.h"
#include "agent/upload/result_queue.h"
#include "agent/upload/submitter.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

struct SubmitOptions {
  std::vector<std::string> files;
  bool pending = false;
  CollectorFlags collector;
};

int RunSubmit(const SubmitOptions& o) {
  if (o.files.empty() && !o.pending) {
    return ReportError(absl::InvalidArgumentError(
        "nothing to submit: name result files, or --pending for the queued ones"));
  }
  // Before the queue is opened: a bad option is reported first.
  absl::StatusOr<std::unique_ptr<CollectorClient>> client = ConnectCollector(o.collector);
  if (!client.ok()) return ReportError(client.status());
  absl::StatusOr<fs::path> queue_dir = QueueDir();
  if (!queue_dir.ok()) return ReportError(queue_dir.status());
  absl::StatusOr<ResultQueue> queue = ResultQueue::Open(*queue_dir);
  if (!queue.ok()) return ReportError(queue.status());

  std::vector<fs::path> files;
  std::set<fs::path> seen;
  auto add = [&](const fs::path& f) {
    std::error_code ec;
    if (seen.insert(fs::weakly_canonical(fs::absolute(f), ec)).second) files.push_back(f);
  };
  for (const std::string& f : o.files) add(f);
  if (o.pending) {
    absl::StatusOr<std::vector<fs::path>> pending = queue->Pending();
    if (!pending.ok()) return ReportError(pending.status());
    for (const fs::path& f : *pending) add(f);
  }
  if (files.empty()) {
    std::printf("nothing to submit: the queue %s is empty\n", queue->dir().string().c_str());
    return kExitOk;
  }

  (*client)->set_retry_observer([&](int attempt, const absl::Status& error) {
    std::fprintf(stderr, "%s; trying again (attempt %d of %d)\n",
                 std::string(error.message()).c_str(), attempt + 1, o.collector.attempts);
  });

  const SubmitReport report = SubmitQueued(**client, *queue, files, stdout);
  std::printf("%zu file%s: %d sent, %d duplicate, %d rejected, %d not sent\n", files.size(),
              files.size() == 1 ? "" : "s", report.sent, report.duplicate, report.rejected,
              report.failed);
  if (report.rejected > 0) {
    std::fprintf(stderr, "rejected results are kept in %s, each with a .reason file\n",
                 queue->rejected_dir().string().c_str());
  }
  if (absl::StatusOr<std::vector<fs::path>> left = queue->Pending();
      report.failed > 0 && left.ok() && !left->empty()) {
    std::fprintf(stderr,
                 "%zu left in the queue %s; send them later with `aiscore submit --pending`\n",
                 left->size(), queue->dir().string().c_str());
  }
  return report.ok() ? kExitOk : kExitFailure;
}

}  // namespace

void AddSubmitCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<SubmitOptions>();
  CLI::App* cmd = app.add_subcommand("submit", "Send signed results to a collector");
  cmd->add_option("files", o->files, "Signed result files (.signed) to send");
  cmd->add_flag("--pending", o->pending, "Send every result waiting in the queue");
  AddCollectorFlags(cmd, o->collector);
  cmd->callback([o, &run] { run = [o] { return RunSubmit(*o); }; });
}

}  // namespace aiscore
