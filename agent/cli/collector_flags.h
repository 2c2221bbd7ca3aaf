// The command-line options every `aiscore` subcommand that talks to a
// collector shares, and what they are turned into: a CollectorClient
// (agent/upload/collector_client.h) and, for the reading commands, a JSON
// print of the collector's answer.
//
// AddCollectorFlags registers the options on a CLI11 subcommand and writes
// the parsed values into a CollectorFlags that the caller owns and keeps
// alive until the command has run (a shared_ptr captured by the callback).
// ConnectCollector checks those values and creates the client; it does not
// touch the network (the client connects on its first call). Not
// thread-safe; call from the command's thread.
#ifndef AISCORE_AGENT_CLI_COLLECTOR_FLAGS_H_
#define AISCORE_AGENT_CLI_COLLECTOR_FLAGS_H_

#include <google/protobuf/message.h>

#include <memory>
#include <string>
#include <string_view>

#include "CLI/CLI.hpp"
#include "absl/status/statusor.h"
#include "agent/upload/collector_client.h"

namespace aiscore {

struct CollectorFlags {
  std::string collector;   // HOST:PORT; empty: DefaultCollectorTarget()
  bool tls = false;        // TLS with the system's root certificates, or ca_file's
  std::string ca_file;     // PEM root certificates for --tls; empty: the system's
  double timeout_s = 30;   // seconds, deadline of each attempt; > 0
  int attempts = 5;        // tries per call, at least 1
  double backoff_s = 0.5;  // seconds, longest wait before the second try; >= 0
};

// Registers on `cmd`: the collector's address as `collector_option`
// ("--collector HOST:PORT" by default; `aiscore run` names it "--submit"),
// --tls, --ca FILE (must exist), --timeout SECONDS, --attempts N and
// --backoff SECONDS, parsed into `flags`.
void AddCollectorFlags(CLI::App* cmd, CollectorFlags& flags,
                       std::string_view collector_option = "--collector");

// A client of flags.collector (DefaultCollectorTarget() when empty) with the
// flags' TLS, deadline and retry policy (the wait doubles per try up to
// max(--backoff, 10 s)). InvalidArgument for a non-positive timeout, a
// negative backoff or fewer than one attempt; otherwise CollectorClient::Create's
// errors.
absl::StatusOr<std::unique_ptr<CollectorClient>> ConnectCollector(const CollectorFlags& flags);

// Prints `message` to stdout in protobuf's JSON mapping, indented, with the
// .proto field names and every primitive field (defaults included). Returns
// kExitOk, or ReportError's exit code when it cannot be printed.
int PrintJson(const google::protobuf::Message& message);

}  // namespace aiscore

#endif  // AISCORE_AGENT_CLI_COLLECTOR_FLAGS_H_
