// Named shapes of published models: scoring/model_presets.h states the
// contract, docs/scoring.md ("Memory") lists the presets.
#include "scoring/model_presets.h"

#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

// The figures of one config.json, in ModelShape's terms.
struct Figures {
  int64_t vocab_size;
  int64_t d_model;     // hidden_size
  int64_t n_layers;    // num_hidden_layers
  int64_t n_heads;     // num_attention_heads
  int64_t n_kv_heads;  // num_key_value_heads
  int64_t d_ff;        // intermediate_size
  double rope_theta;
  double norm_eps;      // rms_norm_eps
  int64_t max_context;  // max_position_embeddings, tokens
};

ModelPresetEntry Make(std::string name, const Figures& f, int64_t published_parameters,
                      bool tied_embeddings, std::string source) {
  ModelPresetEntry e;
  e.name = std::move(name);
  e.shape.set_name(e.name);
  e.shape.set_vocab_size(f.vocab_size);
  e.shape.set_d_model(f.d_model);
  e.shape.set_n_layers(f.n_layers);
  e.shape.set_n_heads(f.n_heads);
  e.shape.set_n_kv_heads(f.n_kv_heads);
  e.shape.set_d_ff(f.d_ff);
  e.shape.set_rope_theta(f.rope_theta);
  e.shape.set_norm_eps(f.norm_eps);
  e.shape.set_max_context(f.max_context);
  e.source = std::move(source);
  e.published_parameters = published_parameters;
  e.tied_embeddings = tied_embeddings;
  return e;
}

// The built-in suite v1's models, taken from the suite itself so that the
// presets cannot drift from what the benchmark runs.
void AppendSuiteModels(std::vector<ModelPresetEntry>& presets) {
  absl::StatusOr<LoadedSuite> suite = LoadSuite("v1");
  if (!suite.ok()) {
    // The built-in suite is compiled in and tested: a broken invariant.
    std::fprintf(stderr, "model presets: %s\n", suite.status().ToString().c_str());
    std::abort();
  }
  for (const v1::ModelShape& shape : suite->spec.models()) {
    ModelPresetEntry e;
    e.name = shape.name();
    e.shape = shape;
    e.source = "suites/v1.textproto, the benchmark's own shape (Llama architecture, exact)";
    e.published_parameters = ToModelConfig(shape).ParameterCount();
    presets.push_back(std::move(e));
  }
}

std::vector<ModelPresetEntry> BuildPresets() {
  // Exact: the model is a Llama-architecture model with head_dim = d_model /
  // n_heads and an untied head, so the shape counts every weight it has.
  std::vector<ModelPresetEntry> p;
  p.push_back(Make("llama-2-7b", {32000, 4096, 32, 32, 32, 11008, 1e4, 1e-5, 4096}, 6738415616,
                   false,
                   "meta-llama/Llama-2-7b-hf config.json; multi-head attention (32 K/V heads); "
                   "exact Llama shape"));
  p.push_back(Make("llama-2-13b", {32000, 5120, 40, 40, 40, 13824, 1e4, 1e-5, 4096}, 13015864320,
                   false,
                   "meta-llama/Llama-2-13b-hf config.json; multi-head attention (40 K/V heads); "
                   "exact Llama shape"));
  p.push_back(Make("llama-3.1-8b", {128256, 4096, 32, 32, 8, 14336, 5e5, 1e-5, 131072}, 8030261248,
                   false,
                   "meta-llama/Llama-3.1-8B config.json; exact Llama shape (the llama3 RoPE "
                   "scaling changes no size)"));
  p.push_back(Make("llama-3.1-70b", {128256, 8192, 80, 64, 8, 28672, 5e5, 1e-5, 131072},
                   70553706496, false, "meta-llama/Llama-3.1-70B config.json; exact Llama shape"));
  p.push_back(Make("llama-3.1-405b", {128256, 16384, 126, 128, 8, 53248, 5e5, 1e-5, 131072},
                   405853388800, false,
                   "meta-llama/Llama-3.1-405B config.json; exact Llama shape"));
  p.push_back(Make("llama-3.2-1b", {128256, 2048, 16, 32, 8, 8192, 5e5, 1e-5, 131072}, 1235814400,
                   true,
                   "meta-llama/Llama-3.2-1B config.json; approximation: the model ties its "
                   "output head to the embedding table (tie_word_embeddings), the shape counts "
                   "both, 262.7 M parameters more than the model"));
  p.push_back(Make("llama-3.2-3b", {128256, 3072, 28, 24, 8, 8192, 5e5, 1e-5, 131072}, 3212749824,
                   true,
                   "meta-llama/Llama-3.2-3B config.json; approximation: the model ties its "
                   "output head to the embedding table (tie_word_embeddings), the shape counts "
                   "both, 394.0 M parameters more than the model"));
  p.push_back(Make("mistral-7b", {32768, 4096, 32, 32, 8, 14336, 1e6, 1e-5, 32768}, 7248023552,
                   false,
                   "mistralai/Mistral-7B-v0.3 config.json (vocab 32768, no sliding window); "
                   "exact Llama shape"));
  p.push_back(Make("qwen2.5-7b", {152064, 3584, 28, 28, 4, 18944, 1e6, 1e-6, 32768}, 7615616512,
                   false,
                   "Qwen/Qwen2.5-7B-Instruct config.json; approximation: q, k and v carry "
                   "biases the shape omits (129 K parameters); max_context is the native 32768 "
                   "(131072 with YaRN)"));
  p.push_back(Make("qwen2.5-14b", {152064, 5120, 48, 40, 8, 13824, 1e6, 1e-5, 32768}, 14770033664,
                   false,
                   "Qwen/Qwen2.5-14B-Instruct config.json; approximation: q, k and v carry "
                   "biases the shape omits (344 K parameters); max_context is the native 32768 "
                   "(131072 with YaRN)"));
  p.push_back(Make("qwen2.5-32b", {152064, 5120, 64, 40, 8, 27648, 1e6, 1e-5, 32768}, 32763876352,
                   false,
                   "Qwen/Qwen2.5-32B-Instruct config.json; approximation: q, k and v carry "
                   "biases the shape omits (459 K parameters); max_context is the native 32768 "
                   "(131072 with YaRN)"));
  p.push_back(Make("qwen2.5-72b", {152064, 8192, 80, 64, 8, 29568, 1e6, 1e-6, 32768}, 72706203648,
                   false,
                   "Qwen/Qwen2.5-72B-Instruct config.json; approximation: q, k and v carry "
                   "biases the shape omits (819 K parameters); max_context is the native 32768 "
                   "(131072 with YaRN)"));
  p.push_back(Make("phi-3-mini", {32064, 3072, 32, 32, 32, 8192, 1e4, 1e-5, 4096}, 3821079552,
                   false,
                   "microsoft/Phi-3-mini-4k-instruct config.json; multi-head attention (32 K/V "
                   "heads); q/k/v and gate/up are stored fused, which changes no size"));
  AppendSuiteModels(p);
  return p;
}

}  // namespace

const std::vector<ModelPresetEntry>& ModelPresets() {
  static const std::vector<ModelPresetEntry>* const kPresets =
      new std::vector<ModelPresetEntry>(BuildPresets());
  return *kPresets;
}

const ModelPresetEntry* FindModelPreset(std::string_view name) {
  for (const ModelPresetEntry& e : ModelPresets()) {
    if (absl::EqualsIgnoreCase(e.name, absl::string_view(name.data(), name.size()))) return &e;
  }
  return nullptr;
}

}  // namespace aiscore
