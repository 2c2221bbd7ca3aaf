// CollectorProcess: the real aiscore-collector binary as a child process
// for end-to-end tests, on a database file and a free loopback port.
// AISCORE_COLLECTOR_BINARY (a compile definition) is its path.
#ifndef AISCORE_TESTS_COLLECTOR_COLLECTOR_PROCESS_H_
#define AISCORE_TESTS_COLLECTOR_COLLECTOR_PROCESS_H_

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <vector>

extern char** environ;

namespace aiscore {

// A running aiscore-collector child; killed (SIGKILL) if the test did not stop it.
class CollectorProcess {
 public:
  explicit CollectorProcess(const std::string& db, std::vector<std::string> extra = {}) {
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
    std::vector<std::string> args = {binary, db_flag, db, listen_flag, listen};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (std::string& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    if (posix_spawn(&pid_, binary.c_str(), &actions, nullptr, argv.data(), environ) != 0) pid_ = -1;
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

}  // namespace aiscore

#endif  // AISCORE_TESTS_COLLECTOR_COLLECTOR_PROCESS_H_
