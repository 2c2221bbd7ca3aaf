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
  r.envelope = "envelope-" + id;
  r.cases = {{"decode_q4_k", "tokens_per_s", 151.25}, {"prefill_q4_k", "tokens_per_s", 9000}};
  r.scores = {{"", 1234.5, {1100, 1200, 1300, 1400, 1500, 1}},
              {"q4_k", 2000, {2100, 2200, 2300, 2400, 2500, 1}}};
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
    EXPECT_TRUE(got->ranked());
    ASSERT_EQ(got->scores.size(), 2u);
    EXPECT_EQ(got->scores[0].format, "");
    EXPECT_EQ(got->scores[0].score, 1234.5);
    EXPECT_EQ(got->scores[0].sub.speculative, 1500);
    EXPECT_EQ(got->scores[1].format, "q4_k");
    EXPECT_EQ(got->scores[1].sub.prefill, 2100);
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

TEST(ResultStoreTest, AssignedIdsGrowAndStayUniqueAcrossReopens) {
  TempDir dir;
  const std::string path = dir.Path("store.db");
  std::vector<std::string> ids;
  for (int round = 0; round < 2; ++round) {
    std::unique_ptr<ResultStore> store = OpenOrDie(path);
    for (int i = 0; i < 100; ++i) {
      StoredResult r = MakeResult("", absl::StrCat("nonce-", round, "-", i));
      absl::StatusOr<InsertOutcome> o = store->Insert(r);
      ASSERT_TRUE(o.ok()) << o.status();
      ASSERT_EQ(o->id.size(), 16u);
      EXPECT_EQ(o->id.find_first_not_of("0123456789abcdef"), std::string::npos) << o->id;
      if (!ids.empty()) {
        EXPECT_GT(o->id, ids.back());
      }
      ids.push_back(o->id);
      ASSERT_TRUE(store->GetById(o->id).ok());
    }
  }
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
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
  StoredResult nan_sub = MakeResult("nan-sub", "n5");
  nan_sub.scores[1].sub.decode = std::nan("");
  EXPECT_EQ(store->Insert(nan_sub).status().code(), absl::StatusCode::kInvalidArgument);
  StoredResult unscored = MakeResult("unscored", "n6");
  unscored.scores.erase(unscored.scores.begin());  // ranked, but no "" scores
  EXPECT_EQ(store->Insert(unscored).status().code(), absl::StatusCode::kInvalidArgument);
  StoredResult long_id = MakeResult(std::string(257, 'x'), "n7");
  EXPECT_EQ(store->Insert(long_id).status().code(), absl::StatusCode::kInvalidArgument);
  ASSERT_TRUE(store->Insert(MakeResult("fine", "n4")).ok());
  EXPECT_EQ(CountRows(path, "results"), 2);
  EXPECT_EQ(CountRows(path, "cases"), 4);  // the failed request's cases were rolled back
  EXPECT_EQ(CountRows(path, "result_scores"), 4);
  EXPECT_EQ(CountRows(path, "group_values"), 2 * (7 + 1));  // 2 results x (7 stats + q4_k's score)
}

// One seeded dataset: results over suites, GPUs, backends, formats, with
// ties, unranked results and groups of one.
struct Dataset {
  std::vector<StoredResult> results;
};

Dataset MakeDataset(uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  const std::string gpus[] = {"RTX 4090", "H100", "A100", "single"};
  const std::string backends[] = {"cuda", "cpu"};
  const std::string keys[] = {std::string(32, 'a'), std::string(32, 'b'), std::string(32, 'c')};
  std::uniform_real_distribution<double> value(10, 5000);
  // Rounded, so that values tie now and then.
  auto draw = [&] { return rng() % 10 == 0 ? 1000.0 : std::round(value(rng) * 100) / 100; };
  Dataset d;
  for (int i = 0; i < n; ++i) {
    StoredResult r =
        MakeResult(absl::StrCat("r", 100000 + (rng() % 900000), "-", i), absl::StrCat("n", i));
    r.gpu = gpus[rng() % 3];
    r.backend = backends[rng() % 2];
    r.suite = rng() % 5 == 0 ? "v0" : "v1";
    r.public_key = keys[rng() % 3];
    r.flags = rng() % 7 == 0 ? int64_t{kFlagCustomModel} : 0;
    if (i == n - 1) r.gpu = "single", r.backend = "cuda", r.suite = "v1", r.flags = 0;
    r.scores.clear();
    for (const char* format : {"", "f16", "q4_k"}) {
      StoredScores sc;
      sc.format = format;
      sc.score = draw();
      sc.sub = {draw(),
                draw(),
                draw(),
                draw(),
                rng() % 3 == 0 ? 0.0 : draw(),
                static_cast<double>(rng() % 5) / 4};
      r.scores.push_back(sc);
    }
    r.score = r.scores[0].score;
    d.results.push_back(std::move(r));
  }
  return d;
}

// numpy's default (linear) percentile of values.
double Quantile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  double position = q * static_cast<double>(v.size() - 1);
  size_t lo = static_cast<size_t>(std::floor(position));
  double fraction = position - static_cast<double>(lo);
  if (fraction == 0) return v[lo];
  return v[lo] + (v[lo + 1] - v[lo]) * fraction;
}

// The leaderboard of (suite, format) computed by brute force over `results`,
// keyed by (gpu, backend); `excluded` keys' results are left out.
std::map<std::pair<std::string, std::string>, LeaderboardRow> BruteForce(
    const std::vector<StoredResult>& results, const std::string& suite, const std::string& format,
    const std::set<std::string>& excluded_keys = {}) {
  std::map<std::pair<std::string, std::string>,
           std::vector<std::pair<const StoredResult*, const StoredScores*>>>
      groups;
  for (const StoredResult& r : results) {
    if (!r.ranked() || r.suite != suite || excluded_keys.count(r.public_key)) continue;
    for (const StoredScores& sc : r.scores) {
      if (sc.format == format) groups[{r.gpu, r.backend}].push_back({&r, &sc});
    }
  }
  std::map<std::pair<std::string, std::string>, LeaderboardRow> rows;
  for (const auto& [key, members] : groups) {
    LeaderboardRow row;
    row.gpu = key.first;
    row.backend = key.second;
    row.count = static_cast<int64_t>(members.size());
    std::vector<double> score, prefill, decode, latency, long_context, speculative, capacity;
    row.best = -1;
    for (const auto& [r, sc] : members) {
      score.push_back(sc->score);
      prefill.push_back(sc->sub.prefill);
      decode.push_back(sc->sub.decode);
      latency.push_back(sc->sub.latency);
      long_context.push_back(sc->sub.long_context);
      speculative.push_back(sc->sub.speculative);
      capacity.push_back(sc->sub.capacity);
      if (sc->score > row.best || (sc->score == row.best && r->id < row.best_result_id)) {
        row.best = sc->score;
        row.best_result_id = r->id;
      }
    }
    row.p25 = Quantile(score, 0.25);
    row.median = Quantile(score, 0.5);
    row.p75 = Quantile(score, 0.75);
    if (format.empty()) {  // a format's groups keep no sub-score medians
      row.median_sub = {Quantile(prefill, 0.5),     Quantile(decode, 0.5),
                        Quantile(latency, 0.5),     Quantile(long_context, 0.5),
                        Quantile(speculative, 0.5), Quantile(capacity, 0.5)};
    }
    rows[key] = row;
  }
  return rows;
}

void ExpectBoardEquals(ResultStore& store, const std::vector<StoredResult>& results,
                       const std::string& suite, const std::string& format,
                       const std::set<std::string>& excluded_keys = {}) {
  SCOPED_TRACE(suite + " format '" + format + "'");
  const auto want = BruteForce(results, suite, format, excluded_keys);
  absl::StatusOr<std::vector<LeaderboardRow>> board = store.Leaderboard(suite, format);
  ASSERT_TRUE(board.ok()) << board.status();
  ASSERT_EQ(board->size(), want.size());
  for (size_t i = 0; i < board->size(); ++i) {
    const LeaderboardRow& row = (*board)[i];
    SCOPED_TRACE(row.gpu + "/" + row.backend);
    const LeaderboardRow& w = want.at({row.gpu, row.backend});
    EXPECT_EQ(row.count, w.count);
    EXPECT_DOUBLE_EQ(row.median, w.median);
    EXPECT_DOUBLE_EQ(row.p25, w.p25);
    EXPECT_DOUBLE_EQ(row.p75, w.p75);
    EXPECT_EQ(row.best, w.best);
    EXPECT_EQ(row.best_result_id, w.best_result_id);
    EXPECT_DOUBLE_EQ(row.median_sub.prefill, w.median_sub.prefill);
    EXPECT_DOUBLE_EQ(row.median_sub.decode, w.median_sub.decode);
    EXPECT_DOUBLE_EQ(row.median_sub.latency, w.median_sub.latency);
    EXPECT_DOUBLE_EQ(row.median_sub.long_context, w.median_sub.long_context);
    EXPECT_DOUBLE_EQ(row.median_sub.speculative, w.median_sub.speculative);
    EXPECT_DOUBLE_EQ(row.median_sub.capacity, w.median_sub.capacity);
    if (i > 0) {
      EXPECT_GE((*board)[i - 1].median, row.median);
    }
    absl::StatusOr<std::optional<LeaderboardRow>> one =
        store.Group(suite, format, row.gpu, row.backend);
    ASSERT_TRUE(one.ok()) << one.status();
    ASSERT_TRUE(one->has_value());
    EXPECT_EQ((*one)->median, row.median);
    EXPECT_EQ((*one)->count, row.count);
  }
}

TEST(ResultStoreTest, AggregatesMatchBruteForce) {
  TempDir dir;
  std::unique_ptr<ResultStore> store = OpenOrDie(dir.Path("store.db"));
  const Dataset d = MakeDataset(20261121, 700);
  for (size_t i = 0; i < d.results.size(); ++i) {
    ASSERT_TRUE(store->Insert(d.results[i]).ok());
    // Exact after every insert, not only at the end (checked now and then).
    if (i % 97 == 0)
      ExpectBoardEquals(*store, {d.results.begin(), d.results.begin() + i + 1}, "v1", "");
  }
  for (const char* format : {"", "f16", "q4_k"}) ExpectBoardEquals(*store, d.results, "v1", format);
  ExpectBoardEquals(*store, d.results, "v0", "");
  absl::StatusOr<std::vector<LeaderboardRow>> none = store->Leaderboard("no such suite");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  absl::StatusOr<std::vector<LeaderboardRow>> no_format = store->Leaderboard("v1", "q2_k");
  ASSERT_TRUE(no_format.ok());
  EXPECT_TRUE(no_format->empty());
  absl::StatusOr<std::optional<LeaderboardRow>> missing = store->Group("v1", "", "TPU", "cuda");
  ASSERT_TRUE(missing.ok());
  EXPECT_FALSE(missing->has_value());

  // A rebuild from the stored scores gives the same boards.
  ASSERT_TRUE(store->RebuildAggregates().ok());
  for (const char* format : {"", "f16", "q4_k"}) ExpectBoardEquals(*store, d.results, "v1", format);
  // And inserts after a rebuild stay exact.
  const Dataset more = MakeDataset(7, 60);
  std::vector<StoredResult> all = d.results;
  for (StoredResult r : more.results) {
    r.id = "more-" + r.id;
    r.nonce = "more-" + r.nonce;
    ASSERT_TRUE(store->Insert(r).ok());
    all.push_back(r);
  }
  ExpectBoardEquals(*store, all, "v1", "");
  ExpectBoardEquals(*store, all, "v1", "q4_k");
}

// The web pages' reads of one group: its scores (histogram), its latest
// results and the medians of its cases, against brute force.
TEST(ResultStoreTest, GroupScoresRecentResultsAndCaseMediansMatchBruteForce) {
  TempDir dir;
  std::unique_ptr<ResultStore> store = OpenOrDie(dir.Path("store.db"));
  Dataset d = MakeDataset(99, 300);
  for (size_t i = 0; i < d.results.size(); ++i) {
    StoredResult& r = d.results[i];
    r.received_us += static_cast<int64_t>(i % 50) * 1000;  // out of order, with ties
    r.cases = {{"chat/q4_k", "tg128", static_cast<double>(i % 17)},
               {"chat/q4_k", "pp512", static_cast<double>(1000 + i)}};
    if (i % 3 == 0) r.cases.pop_back();
    ASSERT_TRUE(store->Insert(r).ok());
  }
  for (const std::string gpu : {"RTX 4090", "H100", "single", "none"}) {
    for (const std::string backend : {"cuda", "cpu"}) {
      SCOPED_TRACE(gpu + "/" + backend);
      std::vector<const StoredResult*> group;  // newest first, as RecentResults orders them
      for (const StoredResult& r : d.results) {
        if (r.suite == "v1" && r.gpu == gpu && r.backend == backend) group.push_back(&r);
      }
      std::sort(group.begin(), group.end(), [](const StoredResult* a, const StoredResult* b) {
        return std::tie(a->received_us, a->id) > std::tie(b->received_us, b->id);
      });
      std::vector<double> want_scores;
      for (const StoredResult* r : group) {
        if (r->ranked()) want_scores.push_back(r->scores[0].score);
      }
      std::sort(want_scores.begin(), want_scores.end());
      absl::StatusOr<std::vector<double>> scores = store->GroupScores("v1", "", gpu, backend);
      ASSERT_TRUE(scores.ok()) << scores.status();
      EXPECT_EQ(*scores, want_scores);

      absl::StatusOr<std::vector<StoredResult>> recent =
          store->RecentResults("v1", gpu, backend, 10);
      ASSERT_TRUE(recent.ok()) << recent.status();
      ASSERT_EQ(recent->size(), std::min<size_t>(10, group.size()));
      for (size_t i = 0; i < recent->size(); ++i) {
        EXPECT_EQ((*recent)[i].id, group[i]->id);
        EXPECT_EQ((*recent)[i].score, group[i]->score);
        EXPECT_EQ((*recent)[i].flags, group[i]->flags);
        EXPECT_TRUE((*recent)[i].envelope.empty());
      }

      // Medians over the latest 20 ranked results.
      std::map<std::pair<std::string, std::string>, std::vector<double>> values;
      int taken = 0;
      for (const StoredResult* r : group) {
        if (!r->ranked() || taken == 20) continue;
        ++taken;
        for (const StoredCase& c : r->cases) values[{c.case_name, c.metric}].push_back(c.median);
      }
      absl::StatusOr<std::vector<CaseMedian>> medians =
          store->GroupCaseMedians("v1", gpu, backend, 20);
      ASSERT_TRUE(medians.ok()) << medians.status();
      ASSERT_EQ(medians->size(), values.size());
      for (const CaseMedian& m : *medians) {
        const std::vector<double>& v = values.at({m.case_name, m.metric});
        EXPECT_EQ(m.results, static_cast<int64_t>(v.size()));
        EXPECT_DOUBLE_EQ(m.median, Quantile(v, 0.5));
      }
    }
  }
}

TEST(ResultStoreTest, BanningAKeyTakesItsResultsOffTheBoardAndLiftingItBringsThemBack) {
  TempDir dir;
  std::unique_ptr<ResultStore> store = OpenOrDie(dir.Path("store.db"));
  const Dataset d = MakeDataset(99, 300);
  for (const StoredResult& r : d.results) ASSERT_TRUE(store->Insert(r).ok());
  const std::string banned_key(32, 'b');
  absl::StatusOr<bool> before = store->IsBanned(banned_key);
  ASSERT_TRUE(before.ok());
  EXPECT_FALSE(*before);

  absl::StatusOr<int64_t> affected = store->SetBanned(banned_key, true);
  ASSERT_TRUE(affected.ok()) << affected.status();
  const int64_t of_key =
      std::count_if(d.results.begin(), d.results.end(),
                    [&](const StoredResult& r) { return r.public_key == banned_key; });
  EXPECT_EQ(*affected, of_key);
  EXPECT_TRUE(*store->IsBanned(banned_key));
  for (const char* format : {"", "q4_k"}) {
    ExpectBoardEquals(*store, d.results, "v1", format, {banned_key});
  }
  for (const StoredResult& r : d.results) {
    if (r.public_key != banned_key) continue;
    absl::StatusOr<StoredResult> got = store->GetById(r.id);
    ASSERT_TRUE(got.ok());
    EXPECT_TRUE(got->flags & kFlagBannedKey);
    EXPECT_FALSE(got->ranked());
    EXPECT_EQ(got->flags & kFlagCustomModel, r.flags & kFlagCustomModel);
  }

  ASSERT_TRUE(store->SetBanned(banned_key, false).ok());
  EXPECT_FALSE(*store->IsBanned(banned_key));
  for (const char* format : {"", "q4_k"}) ExpectBoardEquals(*store, d.results, "v1", format);

  // A key never seen can be banned ahead of its first submission.
  ASSERT_TRUE(store->SetBanned(std::string(32, 'z'), true).ok());
  EXPECT_TRUE(*store->IsBanned(std::string(32, 'z')));
}

TEST(ResultStoreTest, RescoreReplacesScoresAndRebuildsTheBoards) {
  TempDir dir;
  std::unique_ptr<ResultStore> store = OpenOrDie(dir.Path("store.db"));
  Dataset d = MakeDataset(5, 5000);  // more than one rescore batch
  for (const StoredResult& r : d.results) ASSERT_TRUE(store->Insert(r).ok());
  // The new scoring: everything doubles, and gpu "A100" becomes unrankable.
  auto rescore = [](const StoredResult& r) -> absl::StatusOr<Rescored> {
    EXPECT_EQ(r.envelope, "envelope-" + r.id);
    Rescored out;
    out.score = 2 * r.score;
    out.unrankable_flags = r.gpu == "A100" ? int64_t{kFlagUnrankableSuite} : 0;
    for (const char* format : {"", "q4_k"}) {
      StoredScores s;
      s.format = format;
      s.score = 2 * r.score;
      s.sub = {1, 2, 3, 4, 5, 1};
      out.scores.push_back(s);
    }
    return out;
  };
  absl::StatusOr<int64_t> n = store->Rescore(rescore);
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*n, 5000);
  for (StoredResult& r : d.results) {
    r.score *= 2;
    r.flags = r.gpu == "A100" ? int64_t{kFlagUnrankableSuite} : 0;
    r.scores = {{"", r.score, {1, 2, 3, 4, 5, 1}}, {"q4_k", r.score, {1, 2, 3, 4, 5, 1}}};
  }
  ExpectBoardEquals(*store, d.results, "v1", "");
  ExpectBoardEquals(*store, d.results, "v1", "q4_k");
  absl::StatusOr<std::vector<LeaderboardRow>> f16 = store->Leaderboard("v1", "f16");
  ASSERT_TRUE(f16.ok());
  EXPECT_TRUE(f16->empty());  // no result has f16 scores any more
  absl::StatusOr<int64_t> unscored = store->CountUnscored();
  ASSERT_TRUE(unscored.ok());
  EXPECT_EQ(*unscored, 0);

  // A failing rescore reports the result and leaves the store usable.
  absl::StatusOr<int64_t> failed = store->Rescore(
      [](const StoredResult&) -> absl::StatusOr<Rescored> { return absl::DataLossError("bad"); });
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(store->Insert(MakeResult("after", "after-nonce")).ok());
}

TEST(ResultStoreTest, ForEachResultExportsEveryResultInArrivalOrder) {
  TempDir dir;
  std::unique_ptr<ResultStore> store = OpenOrDie(dir.Path("store.db"));
  const Dataset d = MakeDataset(11, 50);
  for (const StoredResult& r : d.results) ASSERT_TRUE(store->Insert(r).ok());
  std::vector<std::string> ids;
  ASSERT_TRUE(store
                  ->ForEachResult([&](const StoredResult& r) {
                    ids.push_back(r.id);
                    EXPECT_TRUE(r.envelope.empty());
                    EXPECT_EQ(r.scores.size(), 1u);
                    return absl::OkStatus();
                  })
                  .ok());
  ASSERT_EQ(ids.size(), d.results.size());
  for (size_t i = 0; i < ids.size(); ++i) EXPECT_EQ(ids[i], d.results[i].id);
  int visited = 0;
  absl::Status stopped = store->ForEachResult([&](const StoredResult&) {
    return ++visited == 3 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(stopped.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(visited, 3);
  absl::StatusOr<int64_t> count = store->ResultCount();
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 50);
  EXPECT_GT(store->DatabaseBytes(), 0);
  EXPECT_TRUE(store->Ping().ok());
}

TEST(ResultStoreTest, BackupIsAConsistentCopyTakenWhileWritersRun) {
  TempDir dir;
  std::unique_ptr<ResultStore> store = OpenOrDie(dir.Path("store.db"));
  const Dataset d = MakeDataset(12, 400);
  for (size_t i = 0; i < 200; ++i) ASSERT_TRUE(store->Insert(d.results[i]).ok());
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (size_t i = 200; i < d.results.size(); ++i) EXPECT_TRUE(store->Insert(d.results[i]).ok());
    writing = false;
  });
  const std::string copy = dir.Path("backup.db");
  ASSERT_TRUE(store->Backup(copy).ok());
  writer.join();
  EXPECT_EQ(store->Backup(copy).code(), absl::StatusCode::kAlreadyExists);

  // The copy opens as a store of its own, and its boards match its results.
  std::unique_ptr<ResultStore> restored = OpenOrDie(copy);
  ASSERT_NE(restored, nullptr);
  std::vector<StoredResult> in_copy;
  for (const StoredResult& r : d.results) {
    if (restored->GetById(r.id).ok()) in_copy.push_back(r);
  }
  EXPECT_GE(in_copy.size(), 200u);
  ExpectBoardEquals(*restored, in_copy, "v1", "");
  EXPECT_EQ(CountRows(copy, "results"), static_cast<int64_t>(in_copy.size()));
}

TEST(ResultStoreTest, ResultsStoredUnderVersion1AreKeptAndRankAgainOnceRescored) {
  TempDir dir;
  const std::string path = dir.Path("v1.db");
  {
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path, Database::Options{});
    ASSERT_TRUE(db.ok());
    ASSERT_TRUE(MigrateTo(**db, 1).ok());
    // What a version-1 collector wrote for one ranked result.
    ASSERT_TRUE(
        (*db)
            ->Execute("INSERT INTO agents VALUES (x'07', 1, 1, 1, 1, 0);"
                      "INSERT INTO results VALUES ('old', x'0102', x'07', 'v1', 'ab12', 1, 'H100', "
                      "'cuda', "
                      "1500, 'accepted', 0, 1, x'00');"
                      "INSERT INTO cases VALUES ('old', 'chat/q4_k', 'tg128', 99.5);"
                      "INSERT INTO gpu_aggregates VALUES (1, 'v1', 'H100', 'cuda', 1, 1500);"
                      "INSERT INTO aggregate_scores VALUES (1, 1500, 'old');")
            .ok());
  }
  std::unique_ptr<ResultStore> store = OpenOrDie(path);
  ASSERT_NE(store, nullptr);
  absl::StatusOr<StoredResult> old = store->GetById("old");
  ASSERT_TRUE(old.ok()) << old.status();
  EXPECT_EQ(old->score, 1500);
  ASSERT_EQ(old->cases.size(), 1u);
  EXPECT_EQ(*store->CountUnscored(), 1);
  EXPECT_TRUE(store->Leaderboard("v1")->empty());  // no sub-scores were kept under version 1
  absl::StatusOr<int64_t> n = store->Rescore([](const StoredResult& r) -> absl::StatusOr<Rescored> {
    Rescored out;
    out.score = r.score;
    out.scores = {{"", r.score, {1, 2, 3, 4, 5, 1}}};
    return out;
  });
  ASSERT_TRUE(n.ok()) << n.status();
  EXPECT_EQ(*store->CountUnscored(), 0);
  {
    // The marker start-up reads is back to 0: no row needs a look any more.
    Database::Options read_only;
    read_only.read_only = true;
    absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path, read_only);
    ASSERT_TRUE(db.ok());
    absl::StatusOr<Statement> marker =
        (*db)->Prepare("SELECT value FROM store_state WHERE name = 'unscored_through'");
    ASSERT_TRUE(marker.ok()) << marker.status();
    ASSERT_TRUE(*marker->Step());
    EXPECT_EQ(marker->ColumnInt64(0), 0);
  }
  absl::StatusOr<std::vector<LeaderboardRow>> board = store->Leaderboard("v1");
  ASSERT_TRUE(board.ok());
  ASSERT_EQ(board->size(), 1u);
  EXPECT_EQ((*board)[0].median, 1500);
  EXPECT_EQ((*board)[0].best_result_id, "old");
}

}  // namespace
}  // namespace aiscore::collector
