// `aiscore bench`: prefill (ppN) and decode (tgN) speed of one model in one
// or more formats on one backend, reported like llama-bench, with the rate at
// which decode reads weights. The full benchmark (suites, signing, upload)
// is `aiscore run`; this measures the engine alone.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "agent/cli/commands.h"
#include "agent/cpu/cpu_backend.h"
#include "agent/engine/backend_registry.h"
#include "agent/engine/host_memory.h"
#include "agent/engine/model_source.h"
#include "agent/engine/session.h"
#include "scoring/statistics.h"

namespace aiscore {
namespace {

struct BenchOptions {
  std::string model = "target-7b";
  std::string formats = "q4_k";
  int prompt = 512;
  int generate = 128;
  int depth = 0;
  int repetitions = 3;
  std::string backend = "auto";
  int threads = 0;
  std::string isa;
  uint64_t seed = kDefaultSyntheticSeed;
};

// How often the probe runs during a decode repetition (aiscore bench).
constexpr double kProbeEverySeconds = 2.0;

double Seconds(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

absl::Status BenchFormat(const BenchOptions& o, Format format, Backend* backend) {
  const auto t0 = std::chrono::steady_clock::now();
  absl::StatusOr<ModelWeights> weights = LoadModel(*backend, o.model, format, o.seed);
  if (!weights.ok()) return weights.status();
  const double load_s = Seconds(t0, std::chrono::steady_clock::now());
  const ModelConfig& c = weights->config;
  const double read_per_token = static_cast<double>(
      weights->TotalBytes() - weights->token_embd.bytes() + weights->token_embd.row_bytes());
  SessionOptions so;
  so.max_context = std::max<int64_t>(o.prompt, o.depth + o.generate) + 1;
  absl::StatusOr<std::unique_ptr<Session>> session = Session::Create(backend, *weights, so);
  if (!session.ok()) return session.status();
  Session& s = **session;
  const std::string label = std::string(FormatName(weights->format));
  std::fprintf(stderr, "%s %s: %.2f GB of weights ready in %.1f s\n", c.name.c_str(), label.c_str(),
               weights->TotalBytes() / 1e9, load_s);

  std::string isa = "-";
  if (auto* cpu = dynamic_cast<CpuBackend*>(backend)) isa = std::string(IsaName(cpu->isa()));
  // gbs: weight bytes read per second; share: of the probe, probe_gbs its median.
  auto row = [&](const std::string& test, const SampleStats& tps, double gbs, double share,
                 double probe_gbs) {
    char gb[48] = "-";
    if (gbs > 0 && probe_gbs > 0) {
      std::snprintf(gb, sizeof(gb), "%.2f (%.0f%% of %.1f)", gbs, 100 * share, probe_gbs);
    } else if (gbs > 0) {
      std::snprintf(gb, sizeof(gb), "%.2f", gbs);
    }
    std::printf(
        "| %-10s | %-5s | %7.2f | %6.3f | %-4s | %-6s | %7d | %-12s | %8.2f ± %6.2f | %-24s |\n",
        c.name.c_str(), label.c_str(), weights->TotalBytes() / 1073741824.0,
        c.ParameterCount() / 1e9, backend->name().c_str(), isa.c_str(),
        backend->name() == "cpu" ? static_cast<CpuBackend*>(backend)->threads() : 0, test.c_str(),
        tps.median, tps.stddev, gb);
    std::fflush(stdout);
  };

  if (o.prompt > 0) {
    const std::vector<int32_t> prompt = SyntheticTokens(o.prompt, c.vocab_size, o.seed);
    std::vector<double> rates;
    for (int rep = -1; rep < o.repetitions; ++rep) {  // rep -1 is the warm-up
      s.Reset();
      const auto a = std::chrono::steady_clock::now();
      if (absl::Status st = s.Forward(prompt, 0, Logits::kLast); !st.ok()) return st;
      const double t = Seconds(a, std::chrono::steady_clock::now());
      if (rep >= 0) rates.push_back(o.prompt / t);
    }
    row("pp" + std::to_string(o.prompt), Summarize(rates), 0, 0, 0);
  }
  if (o.generate > 0) {
    const std::vector<int32_t> context =
        SyntheticTokens(std::max(o.depth, 1), c.vocab_size, o.seed + 1);
    // The host's bandwidth moves from second to second, so the probe runs
    // after the warm-up, during each repetition whenever decode has run
    // kProbeEverySeconds since the last reading, and after it. A
    // repetition's share is the weight bytes it read over the bytes the
    // probe says could have been read in its decode time: each stretch of
    // decode between two readings at their mean.
    absl::StatusOr<std::unique_ptr<BandwidthProbe>> probe = backend->CreateBandwidthProbe();
    if (!probe.ok()) return probe.status();
    // Each token's attention also reads the cache's keys and values (F16)
    // at every position it sees: a second share counts those bytes too.
    const double kv_bytes_per_position = 2.0 * c.n_layers * c.kv_dim() * sizeof(uint16_t);
    std::vector<double> rates, shares, kv_shares, readings, kv_per_token;
    // Each repetition's readings, the one before it first.
    std::vector<std::vector<double>> through;
    s.Reset();
    if (o.depth > 0) {  // Fill the cache once; each repetition rolls back to it.
      if (absl::Status st = s.Forward(context, 0, Logits::kNone); !st.ok()) return st;
    }
    for (int rep = -1; rep < o.repetitions; ++rep) {
      s.Truncate(o.depth);
      int32_t token = context.back();
      const int count = rep < 0 ? std::min(o.generate, 8) : o.generate;
      if (rep >= 0) through.push_back({readings.back()});
      double total = 0, since = 0, ceiling_gb = 0, kv_read = 0;
      // Reads the probe, and accounts the decode since the last reading.
      auto read_probe = [&]() -> absl::Status {
        absl::StatusOr<double> bytes_per_second = (*probe)->Measure();
        if (!bytes_per_second.ok()) return bytes_per_second.status();
        readings.push_back(*bytes_per_second / 1e9);
        if (rep >= 0) {
          ceiling_gb += since * (through.back().back() + readings.back()) / 2;
          through.back().push_back(readings.back());
        }
        since = 0;
        return absl::OkStatus();
      };
      for (int i = 0; i < count; ++i) {
        kv_read += kv_bytes_per_position * static_cast<double>(s.cached_tokens() + 1);
        const auto a = std::chrono::steady_clock::now();
        absl::Status st =
            s.Forward(std::span<const int32_t>(&token, 1), s.cached_tokens(), Logits::kLast);
        const double t = Seconds(a, std::chrono::steady_clock::now());
        total += t;
        since += t;
        if (!st.ok()) return st;
        const std::vector<float>& l = s.logits();  // Greedy pick, outside the timing.
        token = static_cast<int32_t>(std::max_element(l.begin(), l.end()) - l.begin());
        if (rep >= 0 && since >= kProbeEverySeconds && i + 1 < count) {
          if (absl::Status ps = read_probe(); !ps.ok()) return ps;
        }
      }
      if (absl::Status ps = read_probe(); !ps.ok()) return ps;
      if (rep >= 0) {
        rates.push_back(count / total);
        if (ceiling_gb > 0) {
          shares.push_back(count * read_per_token / 1e9 / ceiling_gb);
          kv_shares.push_back((count * read_per_token + kv_read) / 1e9 / ceiling_gb);
        }
        kv_per_token.push_back(kv_read / count);
      }
    }
    const SampleStats st = Summarize(rates);
    std::string test = "tg" + std::to_string(o.generate);
    if (o.depth > 0) test += " @ d" + std::to_string(o.depth);
    row(test, st, st.median * read_per_token / 1e9, Summarize(shares).median,
        Summarize(readings).median);
    std::fprintf(stderr, "probe GB/s through each repetition:");
    for (const std::vector<double>& r : through) {
      for (size_t i = 0; i < r.size(); ++i) std::fprintf(stderr, "%s%.1f", i ? " " : " (", r[i]);
      std::fprintf(stderr, ")");
    }
    std::fprintf(stderr, "\n");
    if (!shares.empty()) {
      std::fprintf(stderr, "share of the probe, each repetition:");
      for (double share : shares) std::fprintf(stderr, " %.1f%%", 100 * share);
      std::fprintf(stderr, "\n");
      std::fprintf(stderr, "counting the KV cache's reads too (%.3g MB a token), each repetition:",
                   Summarize(kv_per_token).median / 1e6);
      for (double share : kv_shares) std::fprintf(stderr, " %.1f%%", 100 * share);
      std::fprintf(stderr, "\n");
    }
  }
  std::fprintf(stderr, "peak resident memory so far: %.2f GiB\n",
               PeakResidentBytes() / 1073741824.0);
  return absl::OkStatus();
}

int RunBench(const BenchOptions& o) {
  std::vector<Format> formats;
  for (absl::string_view name : absl::StrSplit(o.formats, ',')) {
    absl::StatusOr<Format> f = FormatFromName(std::string(name));
    if (!f.ok()) return ReportError(f.status());
    formats.push_back(*f);
  }
  BackendOptions bo;
  bo.threads = o.threads;
  bo.isa = o.isa;
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(o.backend, bo);
  if (!backend.ok()) return ReportError(backend.status());
  std::printf(
      "| model      | fmt   | GiB     | B      | dev  | isa    | threads | test         | t/s      "
      "         | weights GB/s (of probe)  |\n");
  std::printf(
      "| ---------- | ----- | ------- | ------ | ---- | ------ | ------- | ------------ | "
      "----------------- | ------------------------ |\n");
  for (Format f : formats) {
    if (absl::Status s = BenchFormat(o, f, backend->get()); !s.ok()) return ReportError(s);
  }
  return kExitOk;
}

}  // namespace

void AddBenchCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<BenchOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Measure prefill and decode speed of the engine");
  cmd->add_option("--model", o->model, "GGUF file, or a model name to synthesize (target-7b, ...)");
  cmd->add_option("--format", o->formats, "Formats, comma separated: f16,q8_0,q4_k,q2_k");
  cmd->add_option("-p,--prompt", o->prompt, "Prompt tokens for the prefill test (0: skip)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-n,--generate", o->generate, "Tokens for the decode test (0: skip)")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-d,--depth", o->depth, "Tokens in the cache before the decode test")
      ->check(CLI::Range(0, 1 << 20));
  cmd->add_option("-r,--repetitions", o->repetitions, "Timed repetitions (after one warm-up)")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--backend", o->backend, "Backend: auto, cpu");
  cmd->add_option("-t,--threads", o->threads, "CPU threads (0: all)")->check(CLI::Range(0, 1024));
  cmd->add_option("--isa", o->isa, "CPU kernels: scalar, avx2, avxvnni, avx512 (default: best)");
  cmd->add_option("--seed", o->seed, "Seed of synthesized weights and prompts");
  cmd->callback([o, &run] { run = [o] { return RunBench(*o); }; });
}

}  // namespace aiscore
