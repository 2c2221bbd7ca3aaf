// aiscore-collector end to end with the real binaries: the collector serves a
// fresh database on a free port, `aiscore run --submit` sends it a quick-suite
// result, the id `aiscore` prints is found through GetResult, `aiscore
// leaderboard` talks to it, /healthz and /metrics answer over HTTP, and
// SIGTERM stops it with exit 0. The admin commands on the file it leaves:
// export (CSV, JSON), ban, backup, rescore. The connection caps refuse the
// connection over them. Bad flags exit 2, an unusable database or address 1.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "agent/sign/envelope_file.h"
#include "aiscore/v1/collector.grpc.pb.h"
#include "nlohmann/json.hpp"
#include "tests/collector/collector_process.h"
#include "tests/shell_command.h"
#include "tests/temp_dir.h"

extern char** environ;

namespace aiscore {
namespace {

TEST(CollectorBinaryTest, RunSubmitsToTheCollectorAndSigtermStopsIt) {
  TempDir dir;
  CollectorProcess collector(dir.Path("c.db"), {"--http", "127.0.0.1:0"});
  ASSERT_TRUE(collector.started());
  std::smatch http_match;
  const std::string http_line = collector.ReadLine();
  ASSERT_TRUE(
      std::regex_match(http_line, http_match, std::regex("http on 127\\.0\\.0\\.1:([0-9]+)")))
      << http_line;
  httplib::Client http("127.0.0.1", std::stoi(http_match[1].str()));
  const std::string line = collector.ReadLine();
  std::smatch m;
  ASSERT_TRUE(std::regex_match(line, m, std::regex("listening on 127\\.0\\.0\\.1:([0-9]+)")))
      << line;
  const std::string target = "127.0.0.1:" + m[1].str();

  const std::string env =
      "XDG_CONFIG_HOME=" + dir.Path("config") + " XDG_DATA_HOME=" + dir.Path("data") + " ";
  const CommandResult run = RunShellCommand(
      env + AISCORE_BINARY + " run --suite quick --format q4_k --workload chat --submit " + target +
      " 2>&1");
  ASSERT_EQ(run.exit_code, 0) << run.output;
  std::smatch id;
  ASSERT_TRUE(std::regex_search(run.output, id, std::regex("id ([0-9a-f]{16}) ACCEPTED")))
      << run.output;

  auto stub =
      v1::Collector::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetResultRequest request;
  request.set_id(id[1].str());
  v1::GetResultResponse result;
  const grpc::Status s = stub->GetResult(&context, request, &result);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(result.result().suite().name(), "quick");
  EXPECT_FALSE(result.ranked());  // quick is not rankable

  // quick is not rankable, so its leaderboard is empty, but the call succeeds.
  const CommandResult board = RunShellCommand(
      env + AISCORE_BINARY + " leaderboard --suite quick --collector " + target + " 2>&1");
  EXPECT_EQ(board.exit_code, 0) << board.output;

  // Prediction with no GPU results yet: the table's figures at the reference
  // device's efficiencies, said so.
  const CommandResult predict = RunShellCommand(
      env + AISCORE_BINARY + " predict --gpu 'RTX 4090' --model llama-3.1-8b --format q4_k " +
      "--context 8192 --collector " + target + " 2>&1");
  EXPECT_EQ(predict.exit_code, 0) << predict.output;
  EXPECT_NE(predict.output.find("fits         yes"), std::string::npos) << predict.output;
  EXPECT_NE(predict.output.find("KV cache 1.00"), std::string::npos) << predict.output;
  EXPECT_NE(predict.output.find("reference device's assumptions"), std::string::npos)
      << predict.output;
  const CommandResult unknown = RunShellCommand(
      env + AISCORE_BINARY + " predict --gpu 'RTX 9999' --model llama-3.1-8b --format q4_k " +
      "--collector " + target + " 2>&1");
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("give its figures"), std::string::npos) << unknown.output;

  httplib::Result health = http.Get("/healthz");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  httplib::Result metrics = http.Get("/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_EQ(metrics->status, 200);
  EXPECT_NE(
      metrics->body.find("aiscore_submissions_total{outcome=\"accepted\",reason=\"none\"} 1\n"),
      std::string::npos)
      << metrics->body;
  EXPECT_NE(metrics->body.find("aiscore_results_stored 1\n"), std::string::npos) << metrics->body;
  EXPECT_NE(metrics->body.find("aiscore_rpc_total{method=\"GetResult\",code=\"OK\"} 1\n"),
            std::string::npos)
      << metrics->body;

  EXPECT_EQ(collector.Stop(SIGTERM), 0);

  // The operator's commands on the file it leaves.
  const std::string admin = std::string(AISCORE_COLLECTOR_BINARY) + " admin ";
  const std::string db = " --db " + dir.Path("c.db");
  CommandResult csv = RunShellCommand(admin + "export" + db + " 2>&1");
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_EQ(csv.output.find("id,received_at,key,suite,"), 0u) << csv.output;
  EXPECT_NE(csv.output.find(id[1].str() + ","), std::string::npos) << csv.output;
  EXPECT_NE(csv.output.find(",quick,"), std::string::npos) << csv.output;
  CommandResult json = RunShellCommand(admin + "export --format json" + db);
  ASSERT_EQ(json.exit_code, 0) << json.output;
  const nlohmann::json rows = nlohmann::json::parse(json.output, nullptr, false);
  ASSERT_TRUE(rows.is_array()) << json.output;
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_EQ(rows[0]["id"], id[1].str());
  EXPECT_EQ(rows[0]["ranked"], false);
  EXPECT_EQ(rows[0]["flags"], "unrankable-suite");
  EXPECT_TRUE(rows[0]["score"].is_number());

  CommandResult ban = RunShellCommand(admin + "ban" + db + " result:" + id[1].str() + " 2>&1");
  ASSERT_EQ(ban.exit_code, 0) << ban.output;
  EXPECT_NE(ban.output.find("banned SHA256:"), std::string::npos) << ban.output;
  json = RunShellCommand(admin + "export --format json" + db);
  EXPECT_EQ(nlohmann::json::parse(json.output)[0]["flags"], "banned-key|unrankable-suite");
  CommandResult bad = RunShellCommand(admin + "ban" + db + " nobody 2>&1");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("names no key"), std::string::npos) << bad.output;

  CommandResult backup =
      RunShellCommand(admin + "backup" + db + " --to " + dir.Path("copy.db") + " 2>&1");
  ASSERT_EQ(backup.exit_code, 0) << backup.output;
  CommandResult from_copy = RunShellCommand(admin + "export --db " + dir.Path("copy.db"));
  EXPECT_EQ(from_copy.output, RunShellCommand(admin + "export" + db).output);
  backup = RunShellCommand(admin + "backup" + db + " --to " + dir.Path("copy.db") + " 2>&1");
  EXPECT_EQ(backup.exit_code, 1) << backup.output;

  CommandResult rescore = RunShellCommand(admin + "rescore" + db + " 2>&1");
  ASSERT_EQ(rescore.exit_code, 0) << rescore.output;
  EXPECT_NE(rescore.output.find("rescored 1 results"), std::string::npos) << rescore.output;

  CommandResult report = RunShellCommand(admin + "calibration-report" + db + " 2>&1");
  ASSERT_EQ(report.exit_code, 0) << report.output;
  EXPECT_NE(report.output.find("0 fitted devices"), std::string::npos) << report.output;

  EXPECT_EQ(RunShellCommand(admin + "2>&1").exit_code, 2);
  EXPECT_EQ(RunShellCommand(admin + "export --format xml" + db + " 2>&1").exit_code, 2);
}

// Outage: the collector is down while the agent produces results; once it is
// back, `aiscore submit --pending` delivers each exactly once, also the one
// whose acknowledgement was lost (stored, but still queued: DUPLICATE, same id).
TEST(CollectorBinaryTest, OutageThenSubmitPendingDeliversEachExactlyOnce) {
  TempDir dir;
  const std::string db = dir.Path("outage.db");
  std::string down_target;
  {
    CollectorProcess first(db);  // only to learn a port nothing listens on afterwards
    ASSERT_TRUE(first.started());
    std::smatch m;
    const std::string line = first.ReadLine();
    ASSERT_TRUE(std::regex_match(line, m, std::regex("listening on (127\\.0\\.0\\.1:[0-9]+)")));
    down_target = m[1].str();
    ASSERT_EQ(first.Stop(SIGTERM), 0);
  }
  const std::string env =
      "XDG_CONFIG_HOME=" + dir.Path("config") + " XDG_DATA_HOME=" + dir.Path("data") + " ";
  for (int i = 0; i < 3; ++i) {
    const CommandResult run = RunShellCommand(
        env + AISCORE_BINARY + " run --suite quick --format q4_k --workload chat --submit " +
        down_target + " --attempts 1 --timeout 2 2>&1");
    EXPECT_NE(run.output.find("retry with: aiscore submit --pending"), std::string::npos)
        << run.output;
  }
  const std::filesystem::path queue = std::filesystem::path(dir.Path("data")) / "aiscore" / "queue";
  std::vector<std::filesystem::path> queued;
  for (const auto& entry : std::filesystem::directory_iterator(queue)) {
    if (entry.is_regular_file()) queued.push_back(entry.path());
  }
  ASSERT_EQ(queued.size(), 3u);

  CollectorProcess collector(db);
  ASSERT_TRUE(collector.started());
  std::smatch m;
  const std::string line = collector.ReadLine();
  ASSERT_TRUE(std::regex_match(line, m, std::regex("listening on (127\\.0\\.0\\.1:[0-9]+)")));
  const std::string target = m[1].str();
  // One result reached the collector but its answer was lost: stored, still queued.
  absl::StatusOr<v1::SignedResult> lost = ReadEnvelopeFile(queued[0]);
  ASSERT_TRUE(lost.ok()) << lost.status();
  auto stub =
      v1::Collector::NewStub(grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::SubmitRequest request;
  *request.mutable_envelope() = *lost;
  v1::SubmitResponse first_answer;
  ASSERT_TRUE(stub->Submit(&context, request, &first_answer).ok());
  ASSERT_EQ(first_answer.status(), v1::SUBMIT_STATUS_ACCEPTED) << first_answer.message();

  const CommandResult pending =
      RunShellCommand(env + AISCORE_BINARY + " submit --pending --collector " + target + " 2>&1");
  EXPECT_EQ(pending.exit_code, 0) << pending.output;
  EXPECT_NE(pending.output.find("id " + first_answer.id() + " DUPLICATE"), std::string::npos)
      << pending.output;
  EXPECT_NE(pending.output.find("3 files: 2 sent, 1 duplicate, 0 rejected, 0 not sent"),
            std::string::npos)
      << pending.output;
  const CommandResult again =
      RunShellCommand(env + AISCORE_BINARY + " submit --pending --collector " + target + " 2>&1");
  EXPECT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(collector.Stop(SIGTERM), 0);

  // Exactly three results stored: one CSV row each under the header.
  const CommandResult csv = RunShellCommand(std::string(AISCORE_COLLECTOR_BINARY) +
                                            " admin export --format csv --db " + db);
  ASSERT_EQ(csv.exit_code, 0) << csv.output;
  EXPECT_EQ(std::count(csv.output.begin(), csv.output.end(), '\n'), 4) << csv.output;
}

// --max-connections and --max-connections-per-host reach the listener: with
// room for two connections, two clients are served and a third is refused
// with UNAVAILABLE at once; when one goes, the next is served.
TEST(CollectorBinaryTest, ConnectionCapsRefuseTheConnectionOverThem) {
  TempDir dir;
  CollectorProcess collector(dir.Path("c.db"),
                             {"--max-connections", "2", "--max-connections-per-host", "2"});
  ASSERT_TRUE(collector.started());
  const std::string line = collector.ReadLine();
  ASSERT_EQ(line.rfind("listening on ", 0), 0u) << line;
  const std::string target = line.substr(std::string("listening on ").size());
  auto stub = [&] {
    grpc::ChannelArguments args;
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
    return v1::Collector::NewStub(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  };
  auto list = [](v1::Collector::Stub* s) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::ListGpusResponse response;
    return s->ListGpus(&context, v1::ListGpusRequest(), &response);
  };
  auto first = stub();
  auto second = stub();
  ASSERT_TRUE(list(first.get()).ok());
  ASSERT_TRUE(list(second.get()).ok());
  auto third = stub();
  EXPECT_EQ(list(third.get()).error_code(), grpc::StatusCode::UNAVAILABLE);
  third.reset();  // its channel would keep trying to connect
  second.reset();
  bool served = false;
  for (int i = 0; i < 200 && !served; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto next = stub();
    served = list(next.get()).ok();
  }
  EXPECT_TRUE(served);
  EXPECT_TRUE(list(first.get()).ok());
  EXPECT_EQ(collector.Stop(SIGTERM), 0);
}

TEST(CollectorBinaryTest, UnusableDatabaseOrAddressExitsOne) {
  TempDir dir;
  const std::string bin = AISCORE_COLLECTOR_BINARY;
  CommandResult r =
      RunShellCommand(bin + " --db " + dir.Path("missing/dir/c.db") + " --listen 127.0.0.1:0 2>&1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot open the database"), std::string::npos) << r.output;

  r = RunShellCommand(bin + " --db " + dir.Path("c.db") + " --listen not-an-address:99999 2>&1");
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("cannot listen on"), std::string::npos) << r.output;

  r = RunShellCommand(bin + " --db " + dir.Path("c.db") + " 2>&1");  // no --listen
  EXPECT_EQ(r.exit_code, 2) << r.output;
  r = RunShellCommand(bin + " --db " + dir.Path("c.db") +
                      " --listen 127.0.0.1:0 --rate-per-key 10/fortnight 2>&1");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--rate-per-key"), std::string::npos) << r.output;

  r = RunShellCommand(bin + " --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--listen"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace aiscore
