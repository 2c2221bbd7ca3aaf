// Tests of collector/store/result_store: verbatim round trips, duplicate nonces
// (also concurrent), concurrent writers, and aggregates against brute force.
#include "collector/store/result_store.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/store/schema.h"
#include "tests/temp_dir.h"

namespace aiscore::collector {
namespace {

std::unique_ptr<ResultStore> OpenOrDie(const std::string& path) {
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(path);
  EXPECT_TRUE(store.ok()) << store.status();
  return store.ok() ? std::move(*store) : nullptr;
}

StoredResult MakeResult(const std::string& id, const std::string& nonce) {
  StoredResult r;
  r.id = id;
  r.nonce = nonce;
  r.public_key = std::string(32, '\x07');
  r.suite = "v1";
  r.suite_sha256 = "ab12";
  r.received_us = 1'700'000'000'000'000;
  r.gpu = "NVIDIA H100 80GB HBM3";
  r.backend = "cuda";
  r.score = 1234.5;
  r.status = "accepted";
  r.flags = 0;
  r.ranked = true;
  r.envelope = "envelope-" + id;
  r.cases = {{"decode_q4_k", "tokens_per_s", 151.25}, {"prefill_q4_k", "tokens_per_s", 9000}};
  return r;
}

int64_t CountRows(const std::string& path, const std::string& table) {
  Database::Options options;
  options.read_only = true;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path, options);
  EXPECT_TRUE(db.ok());
  // Table names come from the test itself, never from input.
  absl::StatusOr<Statement> stmt = (*db)->Prepare("SELECT count(*) FROM " + table);
  EXPECT_TRUE(stmt.ok()) << stmt.status();
  EXPECT_TRUE(*stmt->Step());
  return stmt->ColumnInt64(0);
}

TEST(ResultStoreTest, RefusesInMemoryAndNewerFiles) {
  EXPECT_FALSE(ResultStore::Open(":memory:").ok());
  TempDir dir;
  const std::string path = dir.Path("newer.db");
  {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path, Database::Options{});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE((*db)->Execute(absl::StrCat("PRAGMA user_version = ", SchemaVersion() + 1)).ok());
  }
  absl::StatusOr<std::unique_ptr<ResultStore>> store = ResultStore::Open(path);
  EXPECT_EQ(store.status().code(), absl::StatusCode::kFailedPrecondition) << store.status();
}

TEST(ResultStoreTest, InsertAndReadBackVerbatim) {
  TempDir dir;
  const std::string path = dir.Path("store.db");
  const std::string hostile[] = {
      std::string("\0env\0elope\0", 11), "it's \"quoted\"", "'; DROP TABLE results; --",
      std::string("\xc3\x28\xff\xfe\x80", 5), std::string(1 << 20, 'm') + std::string(1, '\0')};
  {
    std::unique_ptr<ResultStore> store = OpenOrDie(path);
    ASSERT_NE(store, nullptr);
    int i = 0;
    for (const std::string& bytes : hostile) {
      StoredResult r = MakeResult(absl::StrCat("id-", i), absl::StrCat("nonce-", i));
      r.envelope = bytes;
      r.nonce = bytes + r.nonce;
      r.public_key = bytes;
      r.gpu = bytes;  // a text column
      r.status = bytes;
      r.cases.push_back({bytes, bytes, 1.0 / 3});
      absl::StatusOr<InsertOutcome> outcome = store->Insert(r);
      ASSERT_TRUE(outcome.ok()) << outcome.status();
      EXPECT_TRUE(outcome->inserted);
      EXPECT_EQ(outcome->id, r.id);
      ++i;
    }
  }
  std::unique_ptr<ResultStore> store = OpenOrDie(path);  // and across a re-open
  int i = 0;
  for (const std::string& bytes : hostile) {
    StoredResult want = MakeResult(absl::StrCat("id-", i), absl::StrCat("nonce-", i));
    absl::StatusOr<StoredResult> got = store->GetById(want.id);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->envelope, bytes);
    EXPECT_EQ(got->nonce, bytes + want.nonce);
    EXPECT_EQ(got->public_key, bytes);
    EXPECT_EQ(got->gpu, bytes);
    EXPECT_EQ(got->status, bytes);
    EXPECT_EQ(got->suite, want.suite);
    EXPECT_EQ(got->suite_sha256, want.suite_sha256);
    EXPECT_EQ(got->received_us, want.received_us);
    EXPECT_EQ(got->backend, want.backend);
    EXPECT_EQ(got->score, want.score);
    EXPECT_EQ(got->flags, want.flags);
    EXPECT_EQ(got->ranked, want.ranked);
    ASSERT_EQ(got->cases.size(), 3u);
    EXPECT_EQ(got->cases[0].case_name, "decode_q4_k");
    EXPECT_EQ(got->cases[0].median, 151.25);
    EXPECT_EQ(got->cases[2].case_name, bytes);
    EXPECT_EQ(got->cases[2].metric, bytes);
    EXPECT_EQ(got->cases[2].median, 1.0 / 3);
    ++i;
  }
  EXPECT_EQ(store->GetById("'; DROP TABLE results; --").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(CountRows(path, "results"), 5);
  EXPECT_EQ(CountRows(path, "cases"), 15);
}

TEST(ResultStoreTest, DuplicateNonceKeepsOneRowAndTheFirstId) {
  TempDir dir;
  const std::string path = dir.Path("store.db");
  std::unique_ptr<ResultStore> store = OpenOrDie(path);
  absl::StatusOr<InsertOutcome> first = store->Insert(MakeResult("first", "same-nonce"));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->inserted);
  absl::StatusOr<InsertOutcome> second = store->Insert(MakeResult("second", "same-nonce"));
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->inserted);
  EXPECT_EQ(second->id, "first");
  EXPECT_EQ(CountRows(path, "results"), 1);
  EXPECT_EQ(store->GetById("second").status().code(), absl::StatusCode::kNotFound);
  absl::StatusOr<std::vector<LeaderboardRow>> board = store->Leaderboard("v1");
  ASSERT_TRUE(board.ok());
  ASSERT_EQ(board->size(), 1u);
  EXPECT_EQ((*board)[0].count, 1);  // the duplicate is not aggregated twice
}

TEST(ResultStoreTest, ConcurrentDuplicatesYieldOneRow) {
  TempDir dir;
  const std::string path = dir.Path("store.db");
  std::unique_ptr<ResultStore> store = OpenOrDie(path);
  constexpr int kThreads = 50;
  std::vector<absl::StatusOr<InsertOutcome>> outcomes(kThreads, absl::UnknownError("not run"));
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      outcomes[t] = store->Insert(MakeResult(absl::StrCat("id-", t), "one-nonce"));
    });
  }
  go = true;
  for (std::thread& t : threads) t.join();
  int inserted = 0;
  std::set<std::string> ids;
  for (const absl::StatusOr<InsertOutcome>& o : outcomes) {
    ASSERT_TRUE(o.ok()) << o.status();
    inserted += o->inserted ? 1 : 0;
    ids.insert(o->id);
  }
  EXPECT_EQ(inserted, 1);
  EXPECT_EQ(ids.size(), 1u);  // every caller got the first id
  EXPECT_EQ(CountRows(path, "results"), 1);
  EXPECT_TRUE(store->GetById(*ids.begin()).ok());
}

TEST(ResultStoreTest, ConcurrentWritersAllCommit) {
  TempDir dir;
  const std::string path = dir.Path("store.db");
  std::unique_ptr<ResultStore> store = OpenOrDie(path);
  constexpr int kThreads = 32;
  constexpr int kPerThread = 20;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string id = absl::StrCat("t", t, "-", i);
        absl::StatusOr<InsertOutcome> o = store->Insert(MakeResult(id, "nonce-" + id));
        if (!o.ok() || !o->inserted || o->id != id) ++errors;
        // Committed means visible to a reader at once.
        if (!store->GetById(id).ok()) ++errors;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(CountRows(path, "results"), kThreads * kPerThread);
  EXPECT_EQ(CountRows(path, "cases"), 2 * kThreads * kPerThread);
  absl::StatusOr<std::vector<LeaderboardRow>> board = store->Leaderboard("v1");
  ASSERT_TRUE(board.ok());
  ASSERT_EQ(board->size(), 1u);
  EXPECT_EQ((*board)[0].count, kThreads * kPerThread);
}

TEST(ResultStoreTest, BadRequestFailsAloneInItsGroup) {
  TempDir dir;
  const std::string path = dir.Path("store.db");
  std::unique_ptr<ResultStore> store = OpenOrDie(path);
  ASSERT_TRUE(store->Insert(MakeResult("taken", "n0")).ok());
  StoredResult bad_case = MakeResult("twice", "n1");
  bad_case.cases.push_back(bad_case.cases[0]);  // the same (case, metric) twice
  EXPECT_FALSE(store->Insert(bad_case).ok());
  EXPECT_FALSE(store->Insert(MakeResult("taken", "n2")).ok());  // id already used
  StoredResult nan = MakeResult("nan", "n3");
  nan.score = std::nan("");
  EXPECT_EQ(store->Insert(nan).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->Insert(MakeResult("fine", "n4")).ok());
  EXPECT_EQ(CountRows(path, "results"), 2);
  EXPECT_EQ(CountRows(path, "cases"), 4);  // the failed request's cases were rolled back
  EXPECT_EQ(CountRows(path, "aggregate_scores"), 2);
}

// numpy's default (linear) percentile over sorted values.
double Quantile(const std::vector<double>& sorted, double q) {
  double position = q * static_cast<double>(sorted.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(position));
  double fraction = position - static_cast<double>(lo);
  if (fraction == 0) return sorted[lo];
  return sorted[lo] + (sorted[lo + 1] - sorted[lo]) * fraction;
}

TEST(ResultStoreTest, AggregatesMatchBruteForce) {
  TempDir dir;
  std::unique_ptr<ResultStore> store = OpenOrDie(dir.Path("store.db"));
  std::mt19937_64 rng(20261121);
  const std::string gpus[] = {"RTX 4090", "H100", "A100", "single"};
  const std::string backends[] = {"cuda", "cpu"};
  std::map<std::pair<std::string, std::string>, std::vector<double>> v1_scores;
  std::uniform_real_distribution<double> score(10, 5000);
  for (int i = 0; i < 600; ++i) {
    StoredResult r = MakeResult(absl::StrCat("r", i), absl::StrCat("n", i));
    r.gpu = gpus[rng() % 3];
    r.backend = backends[rng() % 2];
    r.suite = rng() % 5 == 0 ? "v0" : "v1";
    r.ranked = rng() % 7 != 0;
    r.score = rng() % 10 == 0 ? 1000.0 : std::round(score(rng) * 100) / 100;  // some ties
    if (i == 599) {
      r.gpu = "single", r.backend = "cuda", r.suite = "v1", r.ranked = true;
    }
    ASSERT_TRUE(store->Insert(r).ok());
    if (r.ranked && r.suite == "v1") v1_scores[{r.gpu, r.backend}].push_back(r.score);
  }
  absl::StatusOr<std::vector<LeaderboardRow>> board = store->Leaderboard("v1");
  ASSERT_TRUE(board.ok()) << board.status();
  ASSERT_EQ(board->size(), v1_scores.size());
  for (size_t i = 0; i < board->size(); ++i) {
    const LeaderboardRow& row = (*board)[i];
    SCOPED_TRACE(row.gpu + "/" + row.backend);
    std::vector<double> s = v1_scores.at({row.gpu, row.backend});
    std::sort(s.begin(), s.end());
    EXPECT_EQ(row.count, static_cast<int64_t>(s.size()));
    EXPECT_DOUBLE_EQ(row.median, Quantile(s, 0.5));
    EXPECT_DOUBLE_EQ(row.p25, Quantile(s, 0.25));
    EXPECT_DOUBLE_EQ(row.p75, Quantile(s, 0.75));
    EXPECT_DOUBLE_EQ(row.best, s.back());
    if (i > 0) {
      EXPECT_GE((*board)[i - 1].median, row.median);
    }
  }
  absl::StatusOr<std::vector<LeaderboardRow>> none = store->Leaderboard("no such suite");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

}  // namespace
}  // namespace aiscore::collector
