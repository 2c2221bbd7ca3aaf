// `aiscore eval`: the forward pass over given tokens, logits to a file and
// the greedy continuation to stdout. Useful to compare engines on one file.
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "agent/cli/commands.h"
#include "agent/engine/backend_registry.h"
#include "agent/engine/model_source.h"
#include "agent/engine/session.h"

namespace aiscore {
namespace {

struct EvalOptions {
  std::string model;
  std::string format = "f16";
  uint64_t seed = kDefaultSyntheticSeed;
  std::string tokens;
  std::string logits_path;
  int generate = 8;
  std::string backend = "auto";
  int threads = 0;
};

absl::StatusOr<std::vector<int32_t>> ParseTokens(const std::string& text) {
  std::vector<int32_t> tokens;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    int32_t t;
    if (!absl::SimpleAtoi(part, &t) || t < 0) {
      return absl::InvalidArgumentError(
          "--tokens wants non-negative integers separated by "
          "commas, got '" +
          std::string(part) + "'");
    }
    tokens.push_back(t);
  }
  return tokens;
}

int RunEval(const EvalOptions& o) {
  absl::StatusOr<std::vector<int32_t>> tokens = ParseTokens(o.tokens);
  if (!tokens.ok()) return ReportError(tokens.status());
  absl::StatusOr<Format> format = FormatFromName(o.format);
  if (!format.ok()) return ReportError(format.status());
  BackendOptions bo;
  bo.threads = o.threads;
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(o.backend, bo);
  if (!backend.ok()) return ReportError(backend.status());
  absl::StatusOr<ModelWeights> weights = LoadModel(**backend, o.model, *format, o.seed);
  if (!weights.ok()) return ReportError(weights.status());
  SessionOptions so;
  so.max_context = std::min<int64_t>(weights->config.max_context,
                                     static_cast<int64_t>(tokens->size()) + o.generate + 1);
  absl::StatusOr<std::unique_ptr<Session>> session = Session::Create(backend->get(), *weights, so);
  if (!session.ok()) return ReportError(session.status());
  if (absl::Status s = (*session)->Forward(*tokens, 0, Logits::kAll); !s.ok()) {
    return ReportError(s);
  }
  const std::vector<float>& logits = (*session)->logits();
  if (!o.logits_path.empty()) {
    std::ofstream out(o.logits_path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(logits.data()),
              static_cast<std::streamsize>(logits.size() * sizeof(float)));
    if (!out.good()) {
      return ReportError(absl::UnavailableError("could not write logits to " + o.logits_path));
    }
  }
  // Greedy continuation from the last token's logits.
  const int64_t vocab = weights->config.vocab_size;
  const float* last = logits.data() + (tokens->size() - 1) * vocab;
  std::vector<int32_t> continuation;
  if (o.generate > 0) {
    continuation.push_back(static_cast<int32_t>(std::max_element(last, last + vocab) - last));
    if (o.generate > 1) {
      absl::StatusOr<std::vector<int32_t>> more =
          (*session)->Generate(std::span<const int32_t>(&continuation.back(), 1), o.generate - 1);
      if (!more.ok()) return ReportError(more.status());
      continuation.insert(continuation.end(), more->begin(), more->end());
    }
  }
  std::printf("model: %s (%s, %lld layers, vocab %lld)\n", weights->config.name.c_str(),
              std::string(FormatName(weights->format)).c_str(),
              static_cast<long long>(weights->config.n_layers), static_cast<long long>(vocab));
  std::printf("logits: [%zu][%lld] float32%s%s\n", tokens->size(), static_cast<long long>(vocab),
              o.logits_path.empty() ? "" : " -> ", o.logits_path.c_str());
  std::printf("greedy:");
  for (int32_t t : continuation) std::printf(" %d", t);
  std::printf("\n");
  return kExitOk;
}

}  // namespace

void AddEvalCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand(
      "eval", "Run the forward pass over tokens; write logits and print the greedy continuation");
  cmd->add_option("--model", o->model, "GGUF file, or a model name to synthesize (target-7b, ...)")
      ->required();
  cmd->add_option("--tokens", o->tokens, "Token ids, comma separated: 1,2,3")->required();
  cmd->add_option("--logits", o->logits_path, "Write float32 logits, row-major [n_tokens][vocab]");
  cmd->add_option("--generate", o->generate, "Greedy tokens to print after the input")
      ->check(CLI::Range(0, 1 << 16));
  cmd->add_option("--format", o->format,
                  "Format of a synthesized model: f16, q8_0, q4_k, q2_k (basket), q6_k, q3_k");
  cmd->add_option("--seed", o->seed, "Seed of a synthesized model");
  cmd->add_option("--backend", o->backend, "Backend: auto, cpu");
  cmd->add_option("--threads", o->threads, "CPU threads (0: all)")->check(CLI::Range(0, 1024));
  cmd->callback([o, &run] { run = [o] { return RunEval(*o); }; });
}

}  // namespace aiscore
