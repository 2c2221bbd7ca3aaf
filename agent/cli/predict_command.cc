// `aiscore predict`: asks a collector whether a model at a weight format fits
// on a GPU and how fast it would run, with the error the collector measured
// on its own predictions. The GPU is a name from the collector's table
// (--gpu) or its figures (--memory-gib, --bandwidth-gbs, --tflops).
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "agent/cli/collector_flags.h"
#include "agent/cli/commands.h"
#include "agent/upload/collector_client.h"

namespace aiscore {
namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct PredictOptions {
  std::string gpu;
  double memory_gib = 0;     // GiB; 0: not given
  double bandwidth_gbs = 0;  // GB/s (1e9 bytes/s); 0: not given
  double tflops = 0;         // dense FP16 TFLOP/s; 0: not given
  std::string family;
  std::string model;
  std::string format;
  int64_t context = 0;  // tokens; 0: the collector's default (4096)
  CollectorFlags collector;
  bool json = false;
};

absl::StatusOr<aiscore::v1::PredictRequest> MakeRequest(const PredictOptions& o) {
  aiscore::v1::PredictRequest request;
  const bool any_figure = o.memory_gib > 0 || o.bandwidth_gbs > 0 || o.tflops > 0;
  if (!o.gpu.empty() && any_figure) {
    return absl::InvalidArgumentError(
        "give either --gpu NAME or the GPU's figures (--memory-gib, --bandwidth-gbs, --tflops), "
        "not both");
  }
  if (!o.gpu.empty()) {
    request.mutable_gpu()->set_name(o.gpu);
  } else if (o.memory_gib > 0 && o.bandwidth_gbs > 0 && o.tflops > 0) {
    aiscore::v1::GpuFigures* f = request.mutable_gpu()->mutable_figures();
    f->set_memory_bytes(static_cast<int64_t>(std::llround(o.memory_gib * kGiB)));
    f->set_memory_bandwidth(o.bandwidth_gbs * 1e9);
    f->set_fp16_flops(o.tflops * 1e12);
    f->set_family(o.family);
  } else {
    return absl::InvalidArgumentError(
        "name the GPU with --gpu NAME, or give all of --memory-gib, --bandwidth-gbs and --tflops "
        "(positive)");
  }
  request.mutable_model()->set_preset(o.model);
  request.set_format(o.format);
  request.set_context_tokens(o.context);
  return request;
}

// "123.4 tok/s (100.2 to 146.6, +-19%)", or "... (error not measured yet)".
std::string WithRange(double value, const aiscore::v1::Estimate& e, const char* unit) {
  char text[160];
  if (!e.error_measured()) {
    std::snprintf(text, sizeof(text), "%.1f %s (error not measured yet)", value, unit);
  } else {
    std::snprintf(text, sizeof(text), "%.1f %s (%.1f to %.1f, +-%.0f%%)", value, unit,
                  value * (1 - e.relative_error()), value * (1 + e.relative_error()),
                  100 * e.relative_error());
  }
  return text;
}

void PrintPrediction(const PredictOptions& o, const aiscore::v1::PredictResponse& r) {
  const auto& m = r.memory();
  std::printf("GPU          %s, %.2f GiB\n", r.gpu().c_str(), r.gpu_memory_bytes() / kGiB);
  std::printf("model        %s at %s, %lld tokens of context\n", o.model.c_str(), o.format.c_str(),
              static_cast<long long>(r.context_tokens()));
  std::printf("fits         %s\n", r.fits() ? "yes" : "no");
  std::printf(
      "memory       %.2f GiB = weights %.2f + KV cache %.2f + activations %.2f + overhead %.2f "
      "GiB\n",
      m.total_bytes() / kGiB, m.weights_bytes() / kGiB, m.kv_cache_bytes() / kGiB,
      m.activations_bytes() / kGiB, m.overhead_bytes() / kGiB);
  std::printf("decode       %s at that context\n",
              WithRange(r.decode_tokens_per_second().value(), r.decode_tokens_per_second(), "tok/s")
                  .c_str());
  std::printf("prefill      %s\n", WithRange(r.prefill_tokens_per_second().value(),
                                             r.prefill_tokens_per_second(), "tok/s")
                                       .c_str());
  std::printf(
      "first token  %s for the whole prompt\n",
      WithRange(r.time_to_first_token_seconds().value(), r.time_to_first_token_seconds(), "s")
          .c_str());
  std::printf("basis        %s (%lld measured results)\n", r.basis().c_str(),
              static_cast<long long>(r.results()));
}

int RunPredict(const PredictOptions& o) {
  absl::StatusOr<aiscore::v1::PredictRequest> request = MakeRequest(o);
  if (!request.ok()) return ReportError(request.status());
  absl::StatusOr<std::unique_ptr<CollectorClient>> client = ConnectCollector(o.collector);
  if (!client.ok()) return ReportError(client.status());
  absl::StatusOr<aiscore::v1::PredictResponse> response = (*client)->Predict(*request);
  if (!response.ok()) return ReportError(response.status());

  if (o.json) return PrintJson(*response);
  PrintPrediction(o, *response);
  return kExitOk;
}

}  // namespace

void AddPredictCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<PredictOptions>();
  CLI::App* cmd = app.add_subcommand(
      "predict", "Ask a collector whether a model fits on a GPU and how fast it would run");
  cmd->add_option("--gpu", o->gpu, "GPU name from the collector's table: \"RTX 4060\", ...");
  cmd->add_option("--memory-gib", o->memory_gib, "Or the GPU's figures: memory, GiB");
  cmd->add_option("--bandwidth-gbs", o->bandwidth_gbs, "memory bandwidth, GB/s");
  cmd->add_option("--tflops", o->tflops, "dense FP16 compute, TFLOP/s");
  cmd->add_option("--family", o->family, "architecture family, e.g. ada (optional)");
  cmd->add_option("--model", o->model, "Model preset: llama-3.1-8b, mistral-7b, ...")->required();
  cmd->add_option("--format", o->format, "Weight format: f16, q8_0, q4_k, q2_k")->required();
  cmd->add_option("--context", o->context, "KV cache length, tokens (default 4096)")
      ->check(CLI::NonNegativeNumber);
  AddCollectorFlags(cmd, o->collector);
  cmd->add_flag("--json", o->json, "Print JSON instead of text");
  cmd->callback([o, &run] { run = [o] { return RunPredict(*o); }; });
}

}  // namespace aiscore
