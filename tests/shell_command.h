// Runs a shell command line from a test and collects its exit code and what
// it wrote to stdout, for the tests that drive the real `aiscore` binary.
// Only stdout is read: a caller that wants stderr too appends `2>&1`, or its
// own redirect (`2>/dev/null`, `2>FILE`), to the command line.
#ifndef AISCORE_TESTS_SHELL_COMMAND_H_
#define AISCORE_TESTS_SHELL_COMMAND_H_

#include <sys/wait.h>

#include <cstddef>
#include <cstdio>
#include <string>

namespace aiscore {

struct CommandResult {
  int exit_code;       // the exit status; -1 if the command did not exit normally
  std::string output;  // stdout, and whatever the command line redirects into it
};

// Runs `command_line` with /bin/sh and waits for it to finish.
inline CommandResult RunShellCommand(const std::string& command_line) {
  FILE* pipe = popen(command_line.c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed: " + command_line};
  std::string output;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof(buf), pipe)) output.append(buf, n);
  const int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_SHELL_COMMAND_H_
