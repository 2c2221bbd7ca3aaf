// aiscore_submit_load: sustained signed submissions against a running
// collector, and the check that none it acknowledged was lost. The tool
// behind scripts/load-test.sh and scripts/crash-test.sh (docs/reliability.md).
//
//   aiscore_submit_load --target HOST:PORT [--threads 16] [--seconds 60]
//                       [--acked FILE] [--until-down]
//     T threads each submit fresh quick-suite results, signed by one of 64
//     keys, each with a random nonce, one call at a time with a 10 s
//     deadline. Every acknowledged id (ACCEPTED, ACCEPTED_FLAGGED or
//     DUPLICATE) is appended to FILE as one line before the next call. Prints
//     one JSON object: calls, acknowledged, errors by gRPC code, latency
//     percentiles (ms) and the rate. --until-down: stop as soon as the
//     collector stops answering (the crash test kills it), and do not count
//     the calls it cut short as errors. Exit 0, or 1 when a call failed
//     otherwise (or a submission was REJECTED).
//
//   aiscore_submit_load --check-db FILE --acked FILE
//     PRAGMA integrity_check on the database (read-only) must say ok, and
//     every id in the acked file must be a stored result. Exit 0 or 1, with
//     a one-line JSON summary.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "CLI/CLI.hpp"
#include "agent/sign/envelope.h"
#include "agent/sign/key_pair.h"
#include "aiscore/v1/collector.grpc.pb.h"
#include "collector/store/sqlite_db.h"
#include "nlohmann/json.hpp"
#include "suites/suite_loader.h"
#include "tests/collector/quick_result.h"

namespace aiscore {
namespace {

using Clock = std::chrono::steady_clock;

struct Totals {
  std::mutex mu;
  int64_t calls = 0;
  int64_t acknowledged = 0;
  int64_t rejected = 0;
  int64_t cut_short = 0;                  // --until-down: calls the dying collector did not answer
  std::map<std::string, int64_t> errors;  // by gRPC code
  std::vector<double> latency_ms;
};

int Load(const std::string& target, int threads, double seconds, const std::string& acked_path,
         bool until_down) {
  absl::StatusOr<LoadedSuite> quick = LoadSuite("quick");
  if (!quick.ok()) {
    std::fprintf(stderr, "aiscore_submit_load: %s\n",
                 std::string(quick.status().message()).c_str());
    return 1;
  }
  std::vector<KeyPair> keys;
  for (int i = 0; i < 64; ++i) keys.push_back(*KeyPair::Generate());
  std::ofstream acked;
  if (!acked_path.empty()) acked.open(acked_path, std::ios::app);
  std::mutex acked_mu;
  std::mutex result_mu;  // QuickResult's generator is not thread-safe
  Totals totals;
  std::atomic<bool> down{false};
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials());
  const Clock::time_point end =
      Clock::now() + std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6));
  const Clock::time_point start = Clock::now();

  auto worker = [&](int index) {
    std::random_device device;
    std::mt19937_64 rng((static_cast<uint64_t>(device()) << 32) ^ device() ^ index);
    std::unique_ptr<v1::Collector::Stub> stub = v1::Collector::NewStub(channel);
    while (Clock::now() < end && !down.load()) {
      v1::RunResult r;
      {
        std::lock_guard<std::mutex> lock(result_mu);
        r = QuickResult(*quick, absl::Now());
      }
      std::string nonce(16, '\0');
      for (char& c : nonce) c = static_cast<char>(rng());
      r.set_nonce(nonce);
      absl::StatusOr<v1::SignedResult> envelope = SignRunResult(r, keys[rng() % keys.size()]);
      if (!envelope.ok()) continue;
      v1::SubmitRequest request;
      *request.mutable_envelope() = *std::move(envelope);
      v1::SubmitResponse response;
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      const Clock::time_point a = Clock::now();
      const grpc::Status s = stub->Submit(&context, request, &response);
      const double ms = std::chrono::duration<double, std::milli>(Clock::now() - a).count();
      std::lock_guard<std::mutex> lock(totals.mu);
      ++totals.calls;
      if (!s.ok()) {
        if (until_down && (s.error_code() == grpc::StatusCode::UNAVAILABLE ||
                           s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)) {
          ++totals.cut_short;
          down = true;
        } else {
          ++totals.errors[std::to_string(s.error_code())];
        }
        continue;
      }
      totals.latency_ms.push_back(ms);
      if (response.status() == v1::SUBMIT_STATUS_REJECTED) {
        ++totals.rejected;
        continue;
      }
      ++totals.acknowledged;
      if (acked.is_open()) {
        std::lock_guard<std::mutex> write(acked_mu);
        acked << response.id() << '\n' << std::flush;
      }
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(worker, i);
  for (std::thread& t : pool) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double>& ms = totals.latency_ms;
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double q) {
    return ms.empty() ? 0.0 : ms[std::min(ms.size() - 1, static_cast<size_t>(q * ms.size()))];
  };
  nlohmann::json out = {{"target", target},
                        {"threads", threads},
                        {"seconds", elapsed},
                        {"calls", totals.calls},
                        {"acknowledged", totals.acknowledged},
                        {"rejected", totals.rejected},
                        {"cut_short_by_shutdown", totals.cut_short},
                        {"errors", totals.errors},
                        {"per_second", static_cast<double>(totals.acknowledged) / elapsed},
                        {"latency_ms",
                         {{"p50", pct(0.50)},
                          {"p90", pct(0.90)},
                          {"p99", pct(0.99)},
                          {"p999", pct(0.999)},
                          {"max", ms.empty() ? 0.0 : ms.back()}}}};
  std::printf("%s\n", out.dump().c_str());
  return totals.errors.empty() && totals.rejected == 0 ? 0 : 1;
}

int Check(const std::string& db_path, const std::string& acked_path) {
  collector::Database::Options options;
  options.read_only = true;
  absl::StatusOr<std::unique_ptr<collector::Database>> db =
      collector::Database::Open(db_path, options);
  if (!db.ok()) {
    std::printf("{\"ok\": false, \"error\": \"%s\"}\n", std::string(db.status().message()).c_str());
    return 1;
  }
  absl::StatusOr<collector::Statement> integrity = (*db)->Prepare("PRAGMA integrity_check");
  std::string verdict;
  if (integrity.ok() && *integrity->Step()) verdict = integrity->ColumnBytes(0);
  std::set<std::string> stored;
  absl::StatusOr<collector::Statement> ids = (*db)->Prepare("SELECT id FROM results");
  while (ids.ok() && *ids->Step()) stored.insert(ids->ColumnBytes(0));
  std::ifstream acked(acked_path);
  int64_t acknowledged = 0, missing = 0;
  std::string first_missing;
  for (std::string id; std::getline(acked, id);) {
    if (id.empty()) continue;
    ++acknowledged;
    if (stored.count(id) == 0) {
      if (missing++ == 0) first_missing = id;
    }
  }
  const bool ok = verdict == "ok" && missing == 0;
  nlohmann::json out = {{"ok", ok},
                        {"integrity_check", verdict},
                        {"stored", stored.size()},
                        {"acknowledged", acknowledged},
                        {"missing", missing},
                        {"first_missing", first_missing}};
  std::printf("%s\n", out.dump().c_str());
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace aiscore

int main(int argc, char** argv) {
  CLI::App app{"sustained signed submissions to a collector, and the check that none was lost"};
  std::string target, acked, check_db;
  int threads = 16;
  double seconds = 60;
  bool until_down = false;
  app.add_option("--target", target, "the collector's gRPC address, HOST:PORT");
  app.add_option("--threads", threads, "concurrent submitters")->check(CLI::Range(1, 1024));
  app.add_option("--seconds", seconds, "how long to submit")->check(CLI::Range(0.1, 86400.0));
  app.add_option("--acked", acked, "append each acknowledged id to this file");
  app.add_flag("--until-down", until_down, "stop when the collector stops answering");
  app.add_option("--check-db", check_db, "check this database against --acked instead");
  CLI11_PARSE(app, argc, argv);
  if (!check_db.empty()) return aiscore::Check(check_db, acked);
  if (target.empty()) {
    std::fprintf(stderr, "aiscore_submit_load: --target HOST:PORT or --check-db FILE is needed\n");
    return 2;
  }
  return aiscore::Load(target, threads, seconds, acked, until_down);
}
