#include "agent/cli/collector_flags.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "agent/cli/commands.h"

namespace aiscore {
namespace {

std::chrono::milliseconds Millis(double seconds) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::llround(seconds * 1000)));
}

}  // namespace

void AddCollectorFlags(CLI::App* cmd, CollectorFlags& flags, std::string_view collector_option) {
  const std::string address_help =
      collector_option == "--collector"
          ? "Collector HOST:PORT (default: $AISCORE_COLLECTOR, else localhost:50051)"
          : "Send the result to this collector (HOST:PORT)";
  cmd->add_option(std::string(collector_option), flags.collector, address_help);
  cmd->add_flag("--tls", flags.tls, "Connect with TLS");
  cmd->add_option("--ca", flags.ca_file, "PEM file of root certificates for --tls")
      ->check(CLI::ExistingFile);
  cmd->add_option("--timeout", flags.timeout_s, "Deadline of each attempt, seconds (default 30)");
  cmd->add_option("--attempts", flags.attempts,
                  "Tries per call when the collector is unavailable (default 5)");
  cmd->add_option("--backoff", flags.backoff_s,
                  "Longest wait before the second try, seconds; doubles per try (default 0.5)");
}

absl::StatusOr<std::unique_ptr<CollectorClient>> ConnectCollector(const CollectorFlags& flags) {
  if (!(flags.timeout_s > 0) || !(flags.backoff_s >= 0) || flags.attempts < 1) {
    return absl::InvalidArgumentError(
        "--timeout must be positive, --backoff not negative and --attempts at least 1");
  }
  CollectorOptions options;
  options.tls = flags.tls;
  options.ca_file = flags.ca_file;
  options.deadline = Millis(flags.timeout_s);
  options.max_attempts = flags.attempts;
  options.initial_backoff = Millis(flags.backoff_s);
  options.max_backoff = std::max(options.initial_backoff, std::chrono::milliseconds(10000));
  const std::string target = flags.collector.empty() ? DefaultCollectorTarget() : flags.collector;
  return CollectorClient::Create(target, options);
}

int PrintJson(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions json;
  json.add_whitespace = true;
  json.always_print_primitive_fields = true;
  json.preserve_proto_field_names = true;
  std::string text;
  if (auto s = google::protobuf::util::MessageToJsonString(message, &text, json); !s.ok()) {
    return ReportError(absl::InternalError(absl::StrCat("cannot print JSON: ", s.ToString())));
  }
  std::printf("%s", text.c_str());
  return kExitOk;
}

}  // namespace aiscore
