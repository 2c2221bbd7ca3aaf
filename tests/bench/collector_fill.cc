// aiscore_collector_fill: fills a collector database with N synthetic results
// for the leaderboard benchmarks (collector_bench.cc), through bulk SQL rather
// than Submit (10 million Submits would take hours on 2 cores), then builds
// the aggregates with ResultStore::RebuildAggregates, the same code an
// operator's rescore runs.
//
//   aiscore_collector_fill --db PATH --results N [--gpus G] [--seed S]
//
// Each result: suite v1, one of G device names (the hardware table's rows,
// then made-up names; popularity Zipf-like, so a few GPUs hold most results,
// as on real leaderboards), backend cuda or cpu, an overall score and one per
// format (log-normal around a per-GPU median) with sub-scores, a 16-byte
// nonce, one of 10000 keys and a 256-byte placeholder envelope. No cases:
// leaderboard reads never touch them. ranked = 1.
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "collector/store/result_store.h"
#include "collector/store/sqlite_db.h"
#include "scoring/hardware_table.h"

namespace aiscore::collector {
namespace {

int Fail(const absl::Status& s) {
  std::fprintf(stderr, "aiscore_collector_fill: %s\n", std::string(s.message()).c_str());
  return 1;
}

#define FILL_CHECK(expr)                                   \
  do {                                                     \
    if (absl::Status _s = (expr); !_s.ok()) return Fail(_s); \
  } while (0)

constexpr int kKeys = 10000;

int Fill(const std::string& path, int64_t results, int gpus, uint64_t seed) {
  {
    // Creates and migrates the file.
    absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(path);
    if (!store.ok()) return Fail(store.status());
  }
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path, Database::Options{});
  if (!db.ok()) return Fail(db.status());
  FILL_CHECK((*db)->Execute("PRAGMA synchronous = OFF; PRAGMA cache_size = -1048576"));
  absl::StatusOr<Statement> insert_result = (*db)->Prepare(
      "INSERT INTO results (id, nonce, agent_key, suite, suite_sha256, received_us, gpu, "
      "backend, score, status, flags, ranked, envelope) "
      "VALUES (?1, ?2, ?3, 'v1', 'bench', ?4, ?5, ?6, ?7, 'accepted', 0, 1, ?8)");
  if (!insert_result.ok()) return Fail(insert_result.status());
  absl::StatusOr<Statement> insert_scores = (*db)->Prepare(
      "INSERT INTO result_scores (result_id, format, score, prefill, decode, latency, "
      "long_context, speculative, capacity) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
  if (!insert_scores.ok()) return Fail(insert_scores.status());

  {
    // The agents first: results reference them.
    Transaction txn(**db);
    FILL_CHECK(txn.Begin());
    absl::StatusOr<Statement> agent = (*db)->Prepare(
        "INSERT INTO agents (public_key, first_seen_us, last_seen_us) VALUES (?1, 0, 0)");
    if (!agent.ok()) return Fail(agent.status());
    for (int k = 0; k < kKeys; ++k) {
      FILL_CHECK(agent->BindBlob(1, absl::StrFormat("key-%05d", k)));
      FILL_CHECK(agent->Run());
      agent->Reset();
    }
    FILL_CHECK(txn.Commit());
  }
  std::vector<std::string> names;
  for (const HardwareSpec& row : HardwareTable()) names.push_back(row.name);
  for (int i = static_cast<int>(names.size()); i < gpus; ++i) names.push_back(absl::StrCat("GPU ", i));
  names.resize(gpus);
  std::mt19937_64 rng(seed);
  // Zipf-like popularity: weight 1 / (rank + 1).
  std::vector<double> weights;
  for (int i = 0; i < gpus; ++i) weights.push_back(1.0 / (i + 1));
  std::discrete_distribution<int> pick_gpu(weights.begin(), weights.end());
  std::normal_distribution<double> noise(0, 0.1);
  const std::string envelope(256, 'e');
  const char* formats[] = {"", "f16", "q8_0", "q4_k", "q2_k"};
  const int64_t start_us = absl::ToUnixMicros(absl::Now()) - results * 1000;
  const absl::Time started = absl::Now();
  constexpr int64_t kBatch = 50000;
  for (int64_t i = 0; i < results;) {
    Transaction txn(**db);
    FILL_CHECK(txn.Begin());
    for (int64_t end = std::min(results, i + kBatch); i < end; ++i) {
      const int g = pick_gpu(rng);
      // Time-ordered, as the store assigns them.
      const std::string id = absl::StrFormat("%016x", (static_cast<uint64_t>(start_us / 1000) << 16) + i);
      std::string nonce(16, '\0');
      for (char& c : nonce) c = static_cast<char>(rng());
      const std::string key = absl::StrFormat("key-%05d", static_cast<int>(rng() % kKeys));
      const double median = 200 * std::exp(0.02 * (gpus - g) / 10.0);
      Statement& r = *insert_result;
      FILL_CHECK(r.BindText(1, id));
      FILL_CHECK(r.BindBlob(2, nonce));
      FILL_CHECK(r.BindBlob(3, key));
      FILL_CHECK(r.BindInt64(4, start_us + i * 1000));
      FILL_CHECK(r.BindText(5, names[g]));
      FILL_CHECK(r.BindText(6, g % 7 == 6 ? "cpu" : "cuda"));
      const double score = median * std::exp(noise(rng));
      FILL_CHECK(r.BindDouble(7, score));
      FILL_CHECK(r.BindBlob(8, envelope));
      FILL_CHECK(r.Run());
      r.Reset();
      for (const char* format : formats) {
        Statement& s = *insert_scores;
        FILL_CHECK(s.BindText(1, id));
        FILL_CHECK(s.BindText(2, format));
        FILL_CHECK(s.BindDouble(3, format[0] == '\0' ? score : median * std::exp(noise(rng))));
        for (int k = 4; k <= 8; ++k) FILL_CHECK(s.BindDouble(k, median * std::exp(noise(rng))));
        FILL_CHECK(s.BindDouble(9, 1));
        FILL_CHECK(s.Run());
        s.Reset();
      }
    }
    FILL_CHECK(txn.Commit());
    std::fprintf(stderr, "\r%lld results, %.0f s", static_cast<long long>(i),
                 absl::ToDoubleSeconds(absl::Now() - started));
  }
  insert_result->Reset();
  insert_scores->Reset();
  db->reset();
  std::fprintf(stderr, "\nbuilding the aggregates\n");
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(path);
  if (!store.ok()) return Fail(store.status());
  FILL_CHECK((*store)->RebuildAggregates());
  std::printf("filled %s with %lld results over %d devices in %.0f s\n", path.c_str(),
              static_cast<long long>(results), gpus,
              absl::ToDoubleSeconds(absl::Now() - started));
  return 0;
}

}  // namespace
}  // namespace aiscore::collector

int main(int argc, char** argv) {
  CLI::App app{"fills a collector database with synthetic results for the benchmarks"};
  std::string db;
  int64_t results = 0;
  int gpus = 300;
  uint64_t seed = 1;
  app.add_option("--db", db, "SQLite database file to create")->required();
  app.add_option("--results", results, "results to generate")->required()->check(CLI::PositiveNumber);
  app.add_option("--gpus", gpus, "distinct device names")->check(CLI::Range(1, 100000));
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);
  return aiscore::collector::Fill(db, results, gpus, seed);
}
