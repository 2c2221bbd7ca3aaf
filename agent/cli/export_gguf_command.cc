// `aiscore export-gguf`: writes a synthesized model as a GGUF file that
// llama.cpp loads, so other engines run on the same bytes.
#include <cstdio>
#include <memory>
#include <string>

#include "agent/cli/commands.h"
#include "agent/engine/gguf_model.h"
#include "agent/engine/model_source.h"

namespace aiscore {
namespace {

struct ExportOptions {
  std::string model;
  std::string format;
  uint64_t seed = kDefaultSyntheticSeed;
  std::string out;
};

int RunExport(const ExportOptions& o) {
  absl::StatusOr<Format> format = FormatFromName(o.format);
  if (!format.ok()) return ReportError(format.status());
  absl::StatusOr<ModelConfig> config = ModelPreset(o.model);
  if (!config.ok()) return ReportError(config.status());
  absl::StatusOr<ModelWeights> weights = SynthesizeWeights(*config, *format, o.seed);
  if (!weights.ok()) return ReportError(weights.status());
  if (absl::Status s = WriteGgufModel(*weights, o.out); !s.ok()) return ReportError(s);
  std::printf("wrote %s: %s at %s, %.2f GB of weights\n", o.out.c_str(), config->name.c_str(),
              std::string(FormatName(*format)).c_str(), weights->TotalBytes() / 1e9);
  return kExitOk;
}

}  // namespace

void AddExportGgufCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = app.add_subcommand("export-gguf", "Write a synthesized model as a GGUF file");
  cmd->add_option("--model", o->model, "Model name: target-7b, draft-1b, tiny, small")->required();
  cmd->add_option("--format", o->format,
                  "Weight format: f16, q8_0, q4_k, q2_k (basket), q6_k, q3_k")
      ->required();
  cmd->add_option("--seed", o->seed, "Seed of the synthetic weights");
  cmd->add_option("out", o->out, "Output file (.gguf)")->required();
  cmd->callback([o, &run] { run = [o] { return RunExport(*o); }; });
}

}  // namespace aiscore
