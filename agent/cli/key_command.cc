// `aiscore key`: the agent's signing key. `key show` prints the public key and
// its fingerprint (creating the key on first use); `key path` prints where the
// key file is. agent/sign/key_pair.h describes the key and its file.
#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/cli/commands.h"
#include "agent/cli/xdg_dirs.h"
#include "agent/sign/key_pair.h"

namespace aiscore {
namespace {

struct KeyOptions {
  std::string key_file;  // empty: DefaultKeyPath()
};

absl::StatusOr<std::filesystem::path> KeyPath(const KeyOptions& o) {
  if (!o.key_file.empty()) return std::filesystem::path(o.key_file);
  return DefaultKeyPath();
}

int RunKeyShow(const KeyOptions& o) {
  absl::StatusOr<std::filesystem::path> path = KeyPath(o);
  if (!path.ok()) return ReportError(path.status());
  bool created = false;
  absl::StatusOr<KeyPair> key = KeyPair::LoadOrCreate(*path, &created);
  if (!key.ok()) return ReportError(key.status());
  if (created) std::fprintf(stderr, "created new key %s\n", path->string().c_str());
  std::string hex;
  for (unsigned char c : key->public_key()) absl::StrAppend(&hex, absl::Hex(c, absl::kZeroPad2));
  std::printf("public key   %s\nfingerprint  %s\nfile         %s\n", hex.c_str(),
              key->Fingerprint().c_str(), path->string().c_str());
  return kExitOk;
}

int RunKeyPath(const KeyOptions& o) {
  absl::StatusOr<std::filesystem::path> path = KeyPath(o);
  if (!path.ok()) return ReportError(path.status());
  std::printf("%s\n", path->string().c_str());
  return kExitOk;
}

}  // namespace

void AddKeyCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<KeyOptions>();
  CLI::App* cmd = app.add_subcommand("key", "Show the key that signs this machine's results");
  cmd->require_subcommand(1);
  CLI::App* show = cmd->add_subcommand(
      "show", "Print the public key and its fingerprint, creating the key on first use");
  show->add_option("--key", o->key_file, "Key file (default: $XDG_CONFIG_HOME/aiscore/key)");
  show->callback([o, &run] { run = [o] { return RunKeyShow(*o); }; });
  CLI::App* path = cmd->add_subcommand("path", "Print where the key file is");
  path->add_option("--key", o->key_file, "Key file (default: $XDG_CONFIG_HOME/aiscore/key)");
  path->callback([o, &run] { run = [o] { return RunKeyPath(*o); }; });
}

}  // namespace aiscore
