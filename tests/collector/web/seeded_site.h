// SeededSite: the collector's web site in process over a small database that
// is the same in every run, for the site's in-process tests and the HTTP fuzz
// target (tests/fuzz/http_handlers_fuzzer.cc). It holds a ResultStore on a
// SQLite file in a directory the caller owns, seeded with signed suite-v1
// results that went through the collector's verifier at a fixed clock (GPUs
// with several results, a CPU-only result, a GPU named in markup, an outlier,
// a custom model, a quick-suite result) under fixed ids (SeededId), the
// CollectorService over it, and an unbound HttpServer with the routes
// aiscore-collector serves (collector/main.cc): the pages and JSON API
// (collector/web/site.h), /healthz and /metrics. Requests go through
// HttpServer::ServeBytes: httplib's parsing and the real handlers, no socket.
//
// Thread-safety: Serve and Get may be called from any number of threads.
#ifndef AISCORE_TESTS_COLLECTOR_WEB_SEEDED_SITE_H_
#define AISCORE_TESTS_COLLECTOR_WEB_SEEDED_SITE_H_

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "agent/sign/envelope.h"
#include "agent/sign/key_pair.h"
#include "collector/http/collector_metrics.h"
#include "collector/http/http_server.h"
#include "collector/service/collector_service.h"
#include "collector/service/stored_result.h"
#include "collector/store/result_store.h"
#include "collector/verify/device_limits.h"
#include "collector/verify/submission_verifier.h"
#include "collector/web/site.h"
#include "suites/suite_loader.h"
#include "tests/collector/quick_result.h"

namespace aiscore {

// A GPU name and a build string full of markup, as a hostile agent would send.
inline constexpr char kSeededEvilGpu[] =
    "<b id=\"evil\">Evil</b><script>alert('xss')</script> & \"GPU\"";
inline constexpr char kSeededEvilBuild[] = "<i>1</i><img src=x onerror=alert(1)>";

// The seeded results' ids, in the order of SeededSite's table: 5eed0000000000NN.
inline constexpr int kSeededResults = 10;
inline std::string SeededId(int i) { return absl::StrFormat("5eed%012x", i + 1); }

class SeededSite {
 public:
  // Opens (creating) `dir`/site.db, which must not hold a database yet, and
  // seeds it. Errors: the store cannot be opened, or a seed was refused.
  static absl::StatusOr<std::unique_ptr<SeededSite>> Create(const std::filesystem::path& dir) {
    std::unique_ptr<SeededSite> site(new SeededSite);
    absl::StatusOr<std::unique_ptr<collector::ResultStore>> store =
        collector::ResultStore::Open((dir / "site.db").string());
    if (!store.ok()) return store.status();
    site->store_ = *std::move(store);
    if (absl::Status s = site->verifier_.RegisterBuiltInSuites(); !s.ok()) return s;
    if (absl::Status s = site->SeedStore(); !s.ok()) return s;
    site->service_ =
        std::make_unique<collector::CollectorService>(site->store_.get(), &site->verifier_);
    collector::CollectorMetrics::Options metric_options;
    metric_options.version = "seeded";
    metric_options.results_stored = [s = site->store_.get()]() -> absl::StatusOr<double> {
      absl::StatusOr<int64_t> n = s->ResultCount();
      if (!n.ok()) return n.status();
      return static_cast<double>(*n);
    };
    site->metrics_ = std::make_unique<collector::CollectorMetrics>(std::move(metric_options));
    // As aiscore-collector sets up its HTTP side (collector/main.cc).
    collector::HttpServer::Options http;
    http.health = [s = site->store_.get()] { return s->Ping(); };
    http.metrics = [m = site->metrics_.get()] { return m->RenderPrometheus(); };
    collector::web::AddSiteRoutes({.service = site->service_.get(), .store = site->store_.get()},
                                  http.routes);
    absl::StatusOr<std::unique_ptr<collector::HttpServer>> server =
        collector::HttpServer::Unbound(std::move(http));
    if (!server.ok()) return server.status();
    site->http_ = *std::move(server);
    return site;
  }

  // Everything the server answers to a connection that sent `input`.
  std::string Serve(std::string_view input) const { return http_->ServeBytes(input); }

  // The whole response (status line, headers, body) to GET `target`
  // ("/gpu/NAME?backend=cuda": already percent-encoded).
  std::string Get(std::string_view target) const {
    return Serve(absl::StrCat("GET ", std::string(target), " HTTP/1.1\r\nHost: aiscore\r\n\r\n"));
  }

 private:
  SeededSite() : verifier_(CollectorVerifierOptions()) {}

  // What one seeded result claims to be.
  struct SeedSpec {
    const char* suite;
    const char* gpu;  // empty: CPU only
    int64_t gpu_memory;
    const char* backend;
    double speed;  // times the reference device
    bool outlier;  // stored flagged, as the outlier check would
    bool custom;   // a person's own model (the target-7b shape at q8_0)
  };

  absl::Status SeedStore() {
    static constexpr SeedSpec kSeeds[kSeededResults] = {
        {"v1", "NVIDIA GeForce RTX 4090", 24LL << 30, "cuda", 2.0, false, false},
        {"v1", "NVIDIA GeForce RTX 4090", 24LL << 30, "cuda", 2.1, false, false},
        {"v1", "NVIDIA GeForce RTX 4090", 24LL << 30, "cuda", 1.9, false, false},
        {"v1", "NVIDIA H100 80GB HBM3", 80LL << 30, "cuda", 3.5, false, false},
        {"v1", "NVIDIA H100 80GB HBM3", 80LL << 30, "cuda", 3.4, false, false},
        {"v1", "", 0, "cpu", 0.2, false, false},
        {"v1", kSeededEvilGpu, 8LL << 30, "cuda", 1.0, false, false},
        {"v1", "NVIDIA GeForce RTX 4090", 24LL << 30, "cuda", 0.5, true, false},
        {"v1", "NVIDIA L40S", 48LL << 30, "cuda", 3.0, false, true},
        {"quick", "NVIDIA GeForce RTX 3060", 12LL << 30, "cuda", 0.8, false, false},
    };
    absl::StatusOr<KeyPair> key = KeyPair::FromSeed(std::string(kKeySeedBytes, '\x5e'));
    if (!key.ok()) return key.status();
    for (int i = 0; i < kSeededResults; ++i) {
      const SeedSpec& seed = kSeeds[i];
      absl::StatusOr<LoadedSuite> suite = LoadBuiltInSuite(seed.suite);
      if (!suite.ok()) return suite.status();
      v1::RunResult r = QuickResult(*suite, kQuickResultNow, seed.speed);
      const std::string cpu = "AMD Ryzen 9 7950X 16-Core Processor";
      r.mutable_hardware()->mutable_cpu()->set_model(cpu);
      r.mutable_hardware()->mutable_cpu()->set_cores(16);
      r.mutable_backend()->set_name(seed.backend);
      r.mutable_backend()->set_device_name(*seed.gpu == '\0' ? cpu : seed.gpu);
      if (*seed.gpu != '\0') {
        v1::GpuInfo* gpu = r.mutable_hardware()->add_gpus();
        gpu->set_name(seed.gpu);
        gpu->set_memory_bytes(seed.gpu_memory);
        gpu->set_driver_version("550.54.15");
      }
      r.mutable_software()->set_version(
          std::string_view(seed.gpu) == kSeededEvilGpu ? kSeededEvilBuild : "0.1.0");
      r.mutable_software()->set_git_commit("0123456789ab");
      for (v1::CaseResult& c : *r.mutable_cases()) c.set_model("target-7b");
      if (seed.custom) {
        v1::RunResult custom = r;
        custom.clear_cases();
        for (const v1::CaseResult& c : r.cases()) {
          if (c.format() == "q8_0") *custom.add_cases() = c;
        }
        custom.mutable_model()->set_custom(true);
        custom.mutable_model()->set_file_format("q8_0");
        *custom.mutable_model()->mutable_shape() = *FindModel(suite->spec, "target-7b");
        r = std::move(custom);
      }
      absl::StatusOr<v1::SignedResult> envelope = SignRunResult(r, *key);
      if (!envelope.ok()) return envelope.status();
      const Verdict verdict = verifier_.Verify(*envelope, kQuickResultNow);
      if (!verdict.accepted) {
        return absl::InternalError(absl::StrCat("seed ", i, " rejected: ", verdict.message));
      }
      collector::StoredResult stored =
          collector::MakeStoredResult(*envelope, verdict, absl::ToUnixMicros(kQuickResultNow) + i);
      stored.id = SeededId(i);
      if (seed.outlier) {
        stored.flags |= collector::kFlagOutlier;
        stored.status = "accepted_flagged";
      }
      absl::StatusOr<collector::InsertOutcome> outcome = store_->Insert(stored);
      if (!outcome.ok()) return outcome.status();
      if (!outcome->inserted) return absl::InternalError(absl::StrCat("seed ", i, " not stored"));
    }
    return absl::OkStatus();
  }

  // Members in construction order; destroyed in reverse, so the server goes
  // before what its handlers read.
  std::unique_ptr<collector::ResultStore> store_;
  SubmissionVerifier verifier_;
  std::unique_ptr<collector::CollectorService> service_;
  std::unique_ptr<collector::CollectorMetrics> metrics_;
  std::unique_ptr<collector::HttpServer> http_;
};

}  // namespace aiscore

#endif  // AISCORE_TESTS_COLLECTOR_WEB_SEEDED_SITE_H_
