// `aiscore submit`: sends signed results to a collector. Results wait in the
// queue (agent/upload/result_queue.h) until the collector acknowledges them;
// `--pending` sends everything still there. Exit 0 when every file was
// acknowledged, 1 when any was rejected or could not be sent (it stays
// queued), 2 for a bad command line.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
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
  std::string collector;  // empty: DefaultCollectorTarget()
  bool tls = false;
  std::string ca_file;
  double timeout_s = 30;
  int attempts = 5;
  double backoff_s = 0.5;
};

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
}

int RunSubmit(const SubmitOptions& o) {
  if (o.files.empty() && !o.pending) {
    return ReportError(absl::InvalidArgumentError(
        "nothing to submit: name result files, or --pending for the queued ones"));
  }
  if (!(o.timeout_s > 0) || !(o.backoff_s >= 0) || o.attempts < 1) {
    return ReportError(absl::InvalidArgumentError(
        "--timeout must be positive, --backoff not negative and --attempts at least 1"));
  }
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

  CollectorOptions options;
  options.tls = o.tls;
  options.ca_file = o.ca_file;
  options.deadline = Millis(o.timeout_s);
  options.max_attempts = o.attempts;
  options.initial_backoff = Millis(o.backoff_s);
  options.max_backoff = std::max(options.initial_backoff, std::chrono::milliseconds(10000));
  const std::string target = o.collector.empty() ? DefaultCollectorTarget() : o.collector;
  absl::StatusOr<std::unique_ptr<CollectorClient>> client =
      CollectorClient::Create(target, options);
  if (!client.ok()) return ReportError(client.status());
  (*client)->set_retry_observer([&](int attempt, const absl::Status& error) {
    std::fprintf(stderr, "%s; trying again (attempt %d of %d)\n",
                 std::string(error.message()).c_str(), attempt + 1, options.max_attempts);
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
  cmd->add_option("--collector", o->collector,
                  "Collector HOST:PORT (default: $AISCORE_COLLECTOR, else localhost:50051)");
  cmd->add_flag("--tls", o->tls, "Connect with TLS");
  cmd->add_option("--ca", o->ca_file, "PEM file of root certificates for --tls")
      ->check(CLI::ExistingFile);
  cmd->add_option("--timeout", o->timeout_s, "Deadline of each attempt, seconds (default 30)");
  cmd->add_option("--attempts", o->attempts,
                  "Tries per result when the collector is unavailable (default 5)");
  cmd->add_option("--backoff", o->backoff_s,
                  "Longest wait before the second try, seconds; doubles per try (default 0.5)");
  cmd->callback([o, &run] { run = [o] { return RunSubmit(*o); }; });
}

}  // namespace aiscore
