// aiscore-collector end to end with the real binaries: the collector serves a
// fresh database on a free port, `aiscore run --submit` sends it a quick-suite
// result, the id `aiscore` prints is found through GetResult, `aiscore
// leaderboard` talks to it, and SIGTERM stops it with exit 0. Bad flags exit 1.
#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <regex>
#include <string>

#include "aiscore/v1/collector.grpc.pb.h"
#include "tests/shell_command.h"
#include "tests/temp_dir.h"

extern char** environ;

namespace aiscore {
namespace {

// A running aiscore-collector child; killed (SIGKILL) if the test did not stop it.
class CollectorProcess {
 public:
  explicit CollectorProcess(const std::string& db) {
    int fds[2];
    if (pipe(fds) != 0) return;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
    posix_spawn_file_actions_addclose(&actions, fds[0]);
    std::string binary = AISCORE_COLLECTOR_BINARY;
    std::string db_flag = "--db";
    std::string listen_flag = "--listen";
    std::string listen = "127.0.0.1:0";
    char* argv[] = {binary.data(),      db_flag.data(), const_cast<char*>(db.c_str()),
                    listen_flag.data(), listen.data(),  nullptr};
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv, environ) != 0) pid_ = -1;
    posix_spawn_file_actions_destroy(&actions);
    close(fds[1]);
    out_ = fdopen(fds[0], "r");
  }
  ~CollectorProcess() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ != nullptr) fclose(out_);
  }

  // The first line it prints ("listening on HOST:PORT"); empty at EOF.
  std::string ReadLine() {
    std::string line;
    if (out_ == nullptr) return line;
    for (int c; (c = fgetc(out_)) != EOF && c != '\n';) line += static_cast<char>(c);
    return line;
  }

  // Sends `signal` and returns the exit code (-1 when it did not exit normally).
  int Stop(int signal) {
    kill(pid_, signal);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  bool started() const { return pid_ > 0; }

 private:
  pid_t pid_ = -1;
  FILE* out_ = nullptr;
};

TEST(CollectorBinaryTest, RunSubmitsToTheCollectorAndSigtermStopsIt) {
  TempDir dir;
  CollectorProcess collector(dir.Path("c.db"));
  ASSERT_TRUE(collector.started());
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

  r = RunShellCommand(bin + " --help");
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_NE(r.output.find("--listen"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace aiscore
