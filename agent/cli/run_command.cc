// `aiscore run`: runs a suite (the v1 basket by default) on this machine,
// prints the table and the local score, signs the result and saves it under
// the XDG data directory; with --submit, also queues it and sends it to a
// collector. `--model FILE.gguf` runs the suite's generate workloads on a
// person's own model instead (saved and submitted, never ranked).
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/bench/progress.h"
#include "agent/bench/report.h"
#include "agent/bench/runner.h"
#include "agent/cli/collector_flags.h"
#include "agent/cli/commands.h"
#include "agent/cli/xdg_dirs.h"
#include "agent/engine/backend_registry.h"
#include "agent/sign/envelope.h"
#include "agent/sign/envelope_file.h"
#include "agent/sign/key_pair.h"
#include "agent/upload/collector_client.h"
#include "agent/upload/result_queue.h"
#include "agent/upload/submitter.h"
#include "google/protobuf/util/time_util.h"
#include "scoring/score.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

struct RunOptions {
  std::string suite = "v1";
  std::string backend = "auto";
  int threads = 0;
  std::string isa;
  std::string formats;    // comma separated
  std::string workloads;  // comma separated
  std::string model;      // a GGUF file
  std::string json_file, csv_file, md_file;
  std::string key_file;
  CollectorFlags submit;  // submit.collector empty: do not submit
};

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  for (absl::string_view part : absl::StrSplit(s, ',', absl::SkipWhitespace())) {
    out.emplace_back(part);
  }
  return out;
}

absl::Status WriteText(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  return absl::OkStatus();
}

// "20261121T104512Z-v1-3fa9c2d1": sortable by time, unique by nonce.
std::string RunFileStem(const v1::RunResult& run) {
  const std::time_t t = run.started_at().seconds();
  std::tm utc{};
  gmtime_r(&t, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &utc);
  std::string nonce;
  for (size_t i = 0; i < 4 && i < run.nonce().size(); ++i) {
    absl::StrAppendFormat(&nonce, "%02x", static_cast<unsigned char>(run.nonce()[i]));
  }
  return absl::StrCat(stamp, "-", run.suite().name(), "-", nonce);
}

void PrintScore(const v1::RunResult& run, const absl::StatusOr<ScoreReport>& score, bool rankable) {
  if (run.model().custom()) {
    std::printf("\nno AI System Score: a custom model is not ranked (its figures are kept)\n");
    return;
  }
  if (!score.ok()) {
    std::printf("\nlocal score: not computed (%s)\n",
                std::string(score.status().message()).c_str());
    return;
  }
  std::printf("\nAI System Score (local, suite %s%s): %.1f\n", run.suite().name().c_str(),
              rankable ? "" : ", not rankable", score->score);
  std::printf(
      "  prefill %.1f  decode %.1f  latency %.1f  long context %.1f  speculative %.1f  "
      "capacity %d/%d cases\n",
      score->prefill, score->decode, score->latency, score->long_context, score->speculative,
      score->cases_ran, score->cases_total);
}

int Run(const RunOptions& o) {
  absl::StatusOr<LoadedSuite> suite = LoadSuite(o.suite);
  if (!suite.ok()) return ReportError(suite.status());
  // The key first: a bad key file should stop the run before, not after, an hour of work.
  absl::StatusOr<fs::path> key_path = o.key_file.empty() ? DefaultKeyPath() : fs::path(o.key_file);
  if (!key_path.ok()) return ReportError(key_path.status());
  bool created = false;
  absl::StatusOr<KeyPair> key = KeyPair::LoadOrCreate(*key_path, &created);
  if (!key.ok()) {
    ReportError(key.status());
    return kExitFailure;  // a bad file, not a bad command line
  }
  if (created) std::fprintf(stderr, "created a new signing key %s\n", key_path->c_str());
  absl::StatusOr<fs::path> runs_dir = RunsDir();
  if (!runs_dir.ok()) return ReportError(runs_dir.status());
  // The collector's options too (the client connects on its first call, after the run).
  std::unique_ptr<CollectorClient> client;
  if (!o.submit.collector.empty()) {
    absl::StatusOr<std::unique_ptr<CollectorClient>> connected = ConnectCollector(o.submit);
    if (!connected.ok()) return ReportError(connected.status());
    client = *std::move(connected);
  }

  RunnerOptions ro;
  ro.formats = SplitList(o.formats);
  ro.workloads = SplitList(o.workloads);
  ro.custom_model = o.model;
  if (o.model.empty()) {  // Filters are checked now, not after the bandwidth probe.
    absl::StatusOr<std::vector<CasePlan>> plan =
        PlanCases(suite->spec, {.formats = ro.formats, .workloads = ro.workloads});
    if (!plan.ok()) return ReportError(plan.status());
  }

  BackendOptions bo;
  bo.threads = o.threads;
  bo.isa = o.isa;
  absl::StatusOr<std::unique_ptr<Backend>> backend = CreateBackend(o.backend, bo);
  if (!backend.ok()) return ReportError(backend.status());
  std::fprintf(stderr, "suite %s (%s), backend %s on %s\n", suite->spec.name().c_str(),
               suite->sha256.substr(0, 12).c_str(), (*backend)->name().c_str(),
               (*backend)->device_name().c_str());

  absl::StatusOr<v1::RunResult> run;
  {
    ProgressPrinter progress(stderr);
    run = RunSuite(*suite, **backend, ro, progress);
  }
  if (!run.ok()) {  // the command line was checked above: this is a bad file or device
    ReportError(run.status());
    return kExitFailure;
  }
  const absl::StatusOr<ScoreReport> score = ComputeScore(suite->spec, *run);
  if (score.ok()) run->set_local_score(score->score);

  std::printf("%s", FormatTable(*run).c_str());
  if (const std::string spec = FormatSpeculative(*run, suite->spec); !spec.empty()) {
    std::printf("\n%s", spec.c_str());
  }
  PrintScore(*run, score, suite->spec.rankable());

  // Save the signed result (and its JSON) before anything can go wrong.
  absl::StatusOr<v1::SignedResult> envelope = SignRunResult(*run, *key);
  if (!envelope.ok()) return ReportError(envelope.status());
  const fs::path stem = *runs_dir / RunFileStem(*run);
  const fs::path signed_file = stem.string() + ".signed";
  if (absl::Status s = WriteEnvelopeFile(signed_file, *envelope); !s.ok()) return ReportError(s);
  absl::StatusOr<std::string> json = FormatJson(*run);
  if (!json.ok()) return ReportError(json.status());
  if (absl::Status s = WriteText(stem.string() + ".json", *json); !s.ok()) return ReportError(s);
  std::printf("\nsaved %s (signed, key %s)\n", signed_file.c_str(), key->Fingerprint().c_str());

  struct Output {
    const std::string& path;
    std::function<absl::StatusOr<std::string>()> text;
  };
  const Output outputs[] = {
      {o.json_file, [&]() -> absl::StatusOr<std::string> { return *json; }},
      {o.csv_file, [&]() -> absl::StatusOr<std::string> { return FormatCsv(*run); }},
      {o.md_file, [&]() -> absl::StatusOr<std::string> { return FormatTable(*run); }},
  };
  for (const Output& out : outputs) {
    if (out.path.empty()) continue;
    absl::StatusOr<std::string> text = out.text();
    if (!text.ok()) return ReportError(text.status());
    if (absl::Status s = WriteText(out.path, *text); !s.ok()) return ReportError(s);
  }

  if (client == nullptr) {
    std::printf("submit it with: aiscore submit %s --collector HOST:PORT\n", signed_file.c_str());
    return kExitOk;
  }
  absl::StatusOr<fs::path> queue_dir = QueueDir();
  if (!queue_dir.ok()) return ReportError(queue_dir.status());
  absl::StatusOr<ResultQueue> queue = ResultQueue::Open(*queue_dir);
  if (!queue.ok()) return ReportError(queue.status());
  absl::StatusOr<fs::path> queued = queue->Enqueue(*envelope);
  if (!queued.ok()) return ReportError(queued.status());
  const SubmitReport report = SubmitQueued(*client, *queue, {*queued}, stdout);
  if (!report.ok()) {
    std::fprintf(stderr,
                 "aiscore: the result was not accepted; it stays in %s (retry with: aiscore "
                 "submit --pending)\n",
                 queue_dir->c_str());
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace

void AddRunCommand(CLI::App& app, std::function<int()>& run) {
  auto o = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Run the benchmark suite, sign and save the result");
  cmd->add_option("--suite", o->suite,
                  "Suite: v1 (the leaderboard basket), quick, or a .textproto file");
  cmd->add_option("--backend", o->backend, "Backend: auto, cpu (and cuda when built)");
  cmd->add_option("-t,--threads", o->threads, "CPU threads (0: all)")->check(CLI::Range(0, 1024));
  cmd->add_option("--isa", o->isa, "CPU kernels: scalar, avx2, avxvnni, avx512 (default: best)");
  cmd->add_option("--format", o->formats,
                  "Run only these formats, comma separated (others: not run)");
  cmd->add_option("--workload", o->workloads, "Run only these workloads, comma separated");
  cmd->add_option(
         "--model", o->model,
         "Your own Llama-architecture GGUF: runs the generate workloads on it (not ranked)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--json", o->json_file, "Also write the result as JSON to this file");
  cmd->add_option("--csv", o->csv_file, "Also write every figure as CSV to this file");
  cmd->add_option("--md", o->md_file, "Also write the table as markdown to this file");
  cmd->add_option("--key", o->key_file, "Signing key file (default: $XDG_CONFIG_HOME/aiscore/key)");
  AddCollectorFlags(cmd, o->submit, "--submit");
  cmd->callback([o, &run] { run = [o] { return Run(*o); }; });
}

}  // namespace aiscore
