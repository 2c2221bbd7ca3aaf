// `aiscore leaderboard`: the collector's per-GPU ranking of a suite's
// results, as a table on stdout or as JSON (--json, the GetLeaderboardResponse
// message in protobuf's JSON mapping with the .proto field names).
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "agent/cli/collector_flags.h"
#include "agent/cli/commands.h"
#include "agent/upload/collector_client.h"

namespace aiscore {
namespace {

struct LeaderboardOptions {
  std::string suite = "v1";
  std::string gpu;
  std::string backend;
  std::string format;
  std::string sort = "median";
  int page_size = 0;
  std::string page_token;
  CollectorFlags collector;
  bool json = false;
};

const std::map<std::string, aiscore::v1::LeaderboardSort>& SortNames() {
  static const auto* names = new std::map<std::string, aiscore::v1::LeaderboardSort>{
      {"median", aiscore::v1::LEADERBOARD_SORT_MEDIAN_SCORE},
      {"best", aiscore::v1::LEADERBOARD_SORT_BEST_SCORE},
      {"results", aiscore::v1::LEADERBOARD_SORT_RESULTS},
      {"name", aiscore::v1::LEADERBOARD_SORT_NAME},
  };
  return *names;
}

void PrintTable(const aiscore::v1::GetLeaderboardResponse& r) {
  int gpu_width = 3;
  for (const auto& e : r.entries()) gpu_width = std::max<int>(gpu_width, e.gpu().size());
  std::printf("%4s  %-*s  %-7s  %7s  %8s  %8s  %8s  %8s  %8s  %8s  %8s  %8s  %8s\n", "rank",
              gpu_width, "GPU", "backend", "results", "median", "p25", "p75", "best", "prefill",
              "decode", "latency", "long ctx", "spec");
  for (const auto& e : r.entries()) {
    const auto& s = e.median_sub_scores();
    std::printf(
        "%4d  %-*s  %-7s  %7lld  %8.1f  %8.1f  %8.1f  %8.1f  %8.1f  %8.1f  %8.1f  %8.1f  %8.1f\n",
        e.rank(), gpu_width, e.gpu().c_str(), e.backend().c_str(),
        static_cast<long long>(e.results()), e.median_score(), e.p25_score(), e.p75_score(),
        e.best_score(), s.prefill(), s.decode(), s.latency(), s.long_context(), s.speculative());
  }
  std::printf("suite %s: %d of %lld GPUs shown\n", r.suite().c_str(), r.entries_size(),
              static_cast<long long>(r.total_entries()));
  if (!r.next_page_token().empty()) {
    std::printf("next page: --page-token %s\n", r.next_page_token().c_str());
  }
}

int RunLeaderboard(const LeaderboardOptions& o) {
  aiscore::v1::GetLeaderboardRequest request;
  request.set_suite(o.suite);
  request.set_gpu_filter(o.gpu);
  request.set_backend(o.backend);
  request.set_format(o.format);
  request.set_sort(SortNames().at(o.sort));
  request.set_page_size(o.page_size);
  request.set_page_token(o.page_token);

  absl::StatusOr<std::unique_ptr<CollectorClient>> client = ConnectCollector(o.collector);
  if (!client.ok()) return ReportError(client.status());
  absl::StatusOr<aiscore::v1::GetLeaderboardResponse> response = (*client)->GetLeaderboard(request);
  if (!response.ok()) return ReportError(response.status());

  if (o.json) return PrintJson(*response);
  PrintTable(*response);
  return kExitOk;
}

}  // namespace

void AddLeaderboardCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<LeaderboardOptions>();
  CLI::App* cmd = app.add_subcommand("leaderboard", "Show a collector's per-GPU ranking");
  cmd->add_option("--suite", o->suite, "Suite name (default v1)");
  cmd->add_option("--gpu", o->gpu, "Only GPUs whose name contains this (any case)");
  cmd->add_option("--backend", o->backend, "Only this backend: cuda, cpu");
  cmd->add_option("--format", o->format, "Rank by this weight format's cases only: q4_k, ...");
  cmd->add_option("--sort", o->sort, "Order: median (default), best, results, name")
      ->check(CLI::IsMember({"median", "best", "results", "name"}));
  cmd->add_option("--page-size", o->page_size, "Rows per page, 1 to 100 (default 25)")
      ->check(CLI::Range(0, 100));
  cmd->add_option("--page-token", o->page_token, "Page to show, from a previous page's output");
  AddCollectorFlags(cmd, o->collector);
  cmd->add_flag("--json", o->json, "Print JSON instead of a table");
  cmd->callback([o, &run] { run = [o] { return RunLeaderboard(*o); }; });
}

}  // namespace aiscore
