// The collector's throughput and latency (issue targets: 5000 verified
// submissions/s on the 2-core machine with the load generator beside it, zero
// errors and zero loss; leaderboard p99 under 10 ms at 1 and 10 million
// stored results). Everything real: a gRPC server on loopback, the verifier,
// a SQLite file.
//
//   aiscore_collector_bench [--db=FILLED.db] [benchmark flags]
//
// BM_Submit/T: T client threads submit pre-signed v1 results (each its own
//   nonce and key) to an in-process collector on a fresh file; items/s is
//   verified, stored submissions per second; `errors` counts failed calls and
//   `lost` accepted submissions missing from the store afterwards.
// BM_StoreInsert/T: the store alone, T threads inserting scored results.
// BM_Leaderboard/F: GetLeaderboard (page of 25, by median) over gRPC against
//   --db (made by aiscore_collector_fill), format F (0: every format, 1:
//   q4_k); p50_ms and p99_ms over 2000 calls.
// BM_WebPage/P: a web page over HTTP from the collector's HttpServer against
//   --db: P = 0 the leaderboard (/), 1 the GPU page of the GPU with the most
//   results (/gpu/NAME: histogram of all its scores, per-format medians,
//   prediction and fit tables, recent results), 2 the JSON leaderboard
//   (/api/v1/leaderboard); p50_ms and p99_ms over 200 requests.
#include <benchmark/benchmark.h>
#include <grpcpp/grpcpp.h>
#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "absl/strings/str_format.h"
#include "agent/sign/envelope.h"
#include "agent/sign/key_pair.h"
#include "collector/http/http_server.h"
#include "collector/service/collector_service.h"
#include "collector/store/result_store.h"
#include "collector/verify/device_limits.h"
#include "collector/verify/submission_verifier.h"
#include "collector/web/html.h"
#include "collector/web/site.h"
#include "tests/collector/quick_result.h"

namespace aiscore::collector {
namespace {

std::string g_filled_db;  // --db

// A fresh directory under $TMPDIR (or /tmp), removed with its files at scope exit.
class ScratchDir {
 public:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/aiscore-bench-XXXXXX";
    path_ = mkdtemp(pattern.data()) != nullptr ? pattern : "";
  }
  ~ScratchDir() {
    std::error_code error;
    if (!path_.empty()) std::filesystem::remove_all(path_, error);
  }
  std::string Path(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A collector on a loopback port over `db`; rate limits off.
struct Server {
  explicit Server(const std::string& db) {
    absl::StatusOr<std::unique_ptr<ResultStore>> opened = ResultStore::Open(db);
    if (!opened.ok()) return;
    store = std::move(*opened);
    verifier = std::make_unique<SubmissionVerifier>(CollectorVerifierOptions());
    if (!verifier->RegisterBuiltInSuites().ok()) return;
    service = std::make_unique<CollectorService>(store.get(), verifier.get());
    grpc::ServerBuilder builder;
    ApplyServerLimits(&builder);
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service.get());
    server = builder.BuildAndStart();
  }
  ~Server() {
    if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  }
  std::unique_ptr<v1::Collector::Stub> Stub() const {
    return v1::Collector::NewStub(grpc::CreateChannel("127.0.0.1:" + std::to_string(port),
                                                      grpc::InsecureChannelCredentials()));
  }
  std::unique_ptr<ResultStore> store;
  std::unique_ptr<SubmissionVerifier> verifier;
  std::unique_ptr<CollectorService> service;
  std::unique_ptr<grpc::Server> server;
  int port = 0;
};

// `n` signed v1 results from 64 keys, spread over 20 GPUs of the table.
std::vector<v1::SubmitRequest> SignedRequests(int n) {
  absl::StatusOr<LoadedSuite> suite = LoadSuite("v1");
  std::vector<KeyPair> keys;
  for (int i = 0; i < 64; ++i) keys.push_back(*KeyPair::Generate());
  const char* gpus[] = {"NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 3090",
                        "NVIDIA H100 80GB HBM3", "NVIDIA A100-SXM4-80GB", "NVIDIA L40S"};
  std::vector<v1::SubmitRequest> requests(n);
  for (int i = 0; i < n; ++i) {
    v1::RunResult r = QuickResult(*suite, absl::Now(), 0.9 + 0.001 * (i % 200));
    r.mutable_backend()->set_name("cuda");
    v1::GpuInfo* g = r.mutable_hardware()->add_gpus();
    g->set_name(gpus[i % 5]);
    g->set_memory_bytes(i % 5 < 2 ? 24ll << 30 : (i % 5 == 4 ? 48ll << 30 : 80ll << 30));
    *requests[i].mutable_envelope() = *SignRunResult(r, keys[i % keys.size()]);
  }
  return requests;
}

void BM_Submit(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int kRequests = 20000;
  const std::vector<v1::SubmitRequest> requests = SignedRequests(kRequests);
  for (auto _ : state) {
    state.PauseTiming();
    ScratchDir dir;
    Server server(dir.Path("bench.db"));
    std::vector<std::unique_ptr<v1::Collector::Stub>> stubs;
    for (int t = 0; t < threads; ++t) stubs.push_back(server.Stub());
    std::atomic<int> next{0}, errors{0}, accepted{0};
    std::vector<std::string> ids(kRequests);
    state.ResumeTiming();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int i; (i = next.fetch_add(1)) < kRequests;) {
          grpc::ClientContext context;
          context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          v1::SubmitResponse response;
          const grpc::Status s = stubs[t]->Submit(&context, requests[i], &response);
          if (!s.ok() || (response.status() != v1::SUBMIT_STATUS_ACCEPTED &&
                          response.status() != v1::SUBMIT_STATUS_ACCEPTED_FLAGGED)) {
            ++errors;
          } else {
            ++accepted;
            ids[i] = response.id();
          }
        }
      });
    }
    for (std::thread& w : workers) w.join();
    state.PauseTiming();
    int lost = 0;
    for (const std::string& id : ids) {
      if (!id.empty() && !server.store->GetById(id).ok()) ++lost;
    }
    state.counters["errors"] = errors.load();
    state.counters["lost"] = lost + (kRequests - accepted.load() - errors.load());
    state.ResumeTiming();
  }
  state.SetItemsProcessed(state.iterations() * kRequests);
}
BENCHMARK(BM_Submit)
    ->Arg(8)
    ->Arg(32)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

void BM_StoreInsert(benchmark::State& state) {
  const int threads = static_cast<int>(state.range(0));
  constexpr int kResults = 20000;
  for (auto _ : state) {
    state.PauseTiming();
    ScratchDir dir;
    std::unique_ptr<ResultStore> store = *ResultStore::Open(dir.Path("bench.db"));
    std::vector<StoredResult> results(kResults);
    for (int i = 0; i < kResults; ++i) {
      StoredResult& r = results[i];
      r.nonce = absl::StrFormat("nonce-%011d", i);
      r.public_key = std::string(32, static_cast<char>(i % 64));
      r.suite = "v1";
      r.suite_sha256 = std::string(64, '0');  // a digest's length
      r.gpu = absl::StrCat("GPU ", i % 20);
      r.backend = "cuda";
      r.score = 1000 + i % 997;
      r.status = "accepted";
      r.envelope = std::string(4000, 'e');
      for (int c = 0; c < 36; ++c)
        r.cases.push_back({absl::StrCat("case", c / 3), absl::StrCat("m", c % 3), 1.0 * c});
      for (const char* f : {"", "f16", "q8_0", "q4_k", "q2_k"}) {
        r.scores.push_back({f, r.score, {1.0 * (i % 101), 2, 3, 4, 5, 1}});
      }
    }
    std::atomic<int> next{0}, errors{0};
    state.ResumeTiming();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        for (int i; (i = next.fetch_add(1)) < kResults;) {
          if (!store->Insert(results[i]).ok()) ++errors;
        }
      });
    }
    for (std::thread& w : workers) w.join();
    state.counters["errors"] = errors.load();
  }
  state.SetItemsProcessed(state.iterations() * kResults);
}
BENCHMARK(BM_StoreInsert)
    ->Arg(1)
    ->Arg(32)
    ->Arg(256)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

// The collector serving --db, or null after skipping `state` with the reason.
std::unique_ptr<Server> ServeFilledDb(benchmark::State& state) {
  if (g_filled_db.empty()) {
    state.SkipWithError("needs --db=FILE made by aiscore_collector_fill");
    return nullptr;
  }
  auto server = std::make_unique<Server>(g_filled_db);
  if (server->server == nullptr) {
    state.SkipWithError("cannot serve --db");
    return nullptr;
  }
  return server;
}

// p50_ms and p99_ms of `ms` as counters of `state`.
void LatencyCounters(std::vector<double> ms, benchmark::State& state) {
  if (ms.empty()) return;
  std::sort(ms.begin(), ms.end());
  state.counters["p50_ms"] = ms[ms.size() / 2];
  state.counters["p99_ms"] = ms[ms.size() * 99 / 100];
}

void BM_Leaderboard(benchmark::State& state) {
  std::unique_ptr<Server> served = ServeFilledDb(state);
  if (served == nullptr) return;
  Server& server = *served;
  std::unique_ptr<v1::Collector::Stub> stub = server.Stub();
  v1::GetLeaderboardRequest request;
  request.set_suite("v1");
  request.set_page_size(25);
  if (state.range(0) == 1) request.set_format("q4_k");
  std::vector<double> ms;
  int64_t entries = 0;
  for (auto _ : state) {
    for (int i = 0; i < 2000; ++i) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      v1::GetLeaderboardResponse response;
      const auto start = std::chrono::steady_clock::now();
      const grpc::Status s = stub->GetLeaderboard(&context, request, &response);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      if (!s.ok()) state.SkipWithError(s.error_message().c_str());
      entries = response.total_entries();
    }
  }
  LatencyCounters(std::move(ms), state);
  state.counters["rows"] = static_cast<double>(entries);
  absl::StatusOr<int64_t> stored = server.store->ResultCount();
  state.counters["results"] = stored.ok() ? static_cast<double>(*stored) : -1;
}
BENCHMARK(BM_Leaderboard)
    ->Arg(0)
    ->Arg(1)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

void BM_WebPage(benchmark::State& state) {
  std::unique_ptr<Server> served = ServeFilledDb(state);
  if (served == nullptr) return;
  Server& server = *served;
  HttpServer::Options options;
  web::AddSiteRoutes({.service = server.service.get(), .store = server.store.get()},
                     options.routes);
  absl::StatusOr<std::unique_ptr<HttpServer>> http =
      HttpServer::Start("127.0.0.1:0", std::move(options));
  if (!http.ok()) {
    state.SkipWithError(std::string(http.status().message()).c_str());
    return;
  }
  absl::StatusOr<std::vector<LeaderboardRow>> board = server.store->Leaderboard("v1");
  if (!board.ok() || board->empty()) {
    state.SkipWithError("--db has no v1 leaderboard");
    return;
  }
  const LeaderboardRow* top = &board->front();
  for (const LeaderboardRow& row : *board) {
    if (row.count > top->count) top = &row;
  }
  const std::string path = state.range(0) == 0   ? "/"
                           : state.range(0) == 1 ? web::GpuPath(top->gpu, top->backend)
                                                 : "/api/v1/leaderboard";
  httplib::Client client("127.0.0.1", (*http)->port());
  client.set_read_timeout(60, 0);
  std::vector<double> ms;
  size_t bytes = 0;
  for (auto _ : state) {
    for (int i = 0; i < 200; ++i) {
      const auto start = std::chrono::steady_clock::now();
      httplib::Result r = client.Get(path);
      ms.push_back(
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
              .count());
      if (!r || r->status != 200) {
        state.SkipWithError(("GET " + path + " failed").c_str());
        return;
      }
      bytes = r->body.size();
    }
  }
  LatencyCounters(std::move(ms), state);
  state.counters["page_bytes"] = static_cast<double>(bytes);
  state.counters["group_results"] = state.range(0) == 1 ? static_cast<double>(top->count) : 0;
}
BENCHMARK(BM_WebPage)
    ->Arg(0)
    ->Arg(1)
    ->Arg(2)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(1);

}  // namespace
}  // namespace aiscore::collector

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], "--db=", 5) == 0) {
      aiscore::collector::g_filled_db = argv[i] + 5;
      for (int j = i; j + 1 < argc; ++j) argv[j] = argv[j + 1];
      --argc;
      --i;
    }
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
