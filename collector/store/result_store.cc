#include "collector/store/result_store.h"

#include <algorithm>
#include <cmath>
#include <future>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "collector/store/schema.h"

namespace aiscore::collector {
namespace {

constexpr size_t kMaxGroup = 256;       // requests committed in one transaction at most
constexpr size_t kMaxIdleReaders = 16;  // reader connections kept open for reuse

#define STORE_RETURN_IF_ERROR(expr)                    \
  do {                                                 \
    if (absl::Status _s = (expr); !_s.ok()) return _s; \
  } while (0)

// Assigns a prepared statement or returns the error.
#define STORE_PREPARE(db, target, sql)                   \
  do {                                                   \
    absl::StatusOr<Statement> _stmt = (db).Prepare(sql); \
    if (!_stmt.ok()) return _stmt.status();              \
    (target) = std::move(*_stmt);                        \
  } while (0)

}  // namespace

struct ResultStore::WriteRequest {
  const StoredResult* result;
  std::promise<absl::StatusOr<InsertOutcome>> done;
};

struct ResultStore::Writer {
  std::unique_ptr<Database> db;
  Statement savepoint, release, rollback_to;
  Statement find_nonce, upsert_agent, insert_result, insert_case, upsert_group, insert_score;

  absl::Status Prepare() {
    STORE_PREPARE(*db, savepoint, "SAVEPOINT request");
    STORE_PREPARE(*db, release, "RELEASE request");
    STORE_PREPARE(*db, rollback_to, "ROLLBACK TO request");
    STORE_PREPARE(*db, find_nonce, "SELECT id FROM results WHERE nonce = ?1");
    STORE_PREPARE(
        *db, upsert_agent,
        "INSERT INTO agents (public_key, first_seen_us, last_seen_us, results, "
        "ranked_results) VALUES (?1, ?2, ?2, 1, ?3) "
        "ON CONFLICT (public_key) DO UPDATE SET "
        "first_seen_us = min(first_seen_us, excluded.first_seen_us), "
        "last_seen_us = max(last_seen_us, excluded.last_seen_us), "
        "results = results + 1, ranked_results = ranked_results + excluded.ranked_results");
    STORE_PREPARE(*db, insert_result,
                  "INSERT INTO results (id, nonce, agent_key, suite, suite_sha256, received_us, "
                  "gpu, backend, score, status, flags, ranked, envelope) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
    STORE_PREPARE(*db, insert_case,
                  "INSERT INTO cases (result_id, case_name, metric, median) "
                  "VALUES (?1, ?2, ?3, ?4)");
    STORE_PREPARE(*db, upsert_group,
                  "INSERT INTO gpu_aggregates (suite, gpu, backend, count, best) "
                  "VALUES (?1, ?2, ?3, 1, ?4) "
                  "ON CONFLICT (suite, gpu, backend) DO UPDATE SET "
                  "count = count + 1, best = max(best, excluded.best) RETURNING group_id");
    STORE_PREPARE(*db, insert_score,
                  "INSERT INTO aggregate_scores (group_id, score, result_id) VALUES (?1, ?2, ?3)");
    return absl::OkStatus();
  }
};

struct ResultStore::Reader {
  std::unique_ptr<Database> db;
  Statement by_id, cases_of, groups_of, scores_at;

  absl::Status Prepare() {
    STORE_PREPARE(*db, by_id,
                  "SELECT id, nonce, agent_key, suite, suite_sha256, received_us, gpu, backend, "
                  "score, status, flags, ranked, envelope FROM results WHERE id = ?1");
    STORE_PREPARE(*db, cases_of,
                  "SELECT case_name, metric, median FROM cases WHERE result_id = ?1 "
                  "ORDER BY rowid");
    STORE_PREPARE(*db, groups_of,
                  "SELECT group_id, gpu, backend, count, best FROM gpu_aggregates "
                  "WHERE suite = ?1");
    STORE_PREPARE(*db, scores_at,
                  "SELECT score FROM aggregate_scores WHERE group_id = ?1 "
                  "ORDER BY score LIMIT ?2 OFFSET ?3");
    return absl::OkStatus();
  }
};

// Returns a reader to the pool when it goes out of scope.
class ResultStore::ReaderLease {
 public:
  ReaderLease(ResultStore* store, std::unique_ptr<Reader> reader)
      : store_(store), reader_(std::move(reader)) {}
  ~ReaderLease() { store_->ReleaseReader(std::move(reader_)); }
  Reader* operator->() { return reader_.get(); }

 private:
  ResultStore* store_;
  std::unique_ptr<Reader> reader_;
};

absl::StatusOr<std::unique_ptr<ResultStore>> ResultStore::Open(const std::string& path) {
  if (path.empty() || path == ":memory:" || path.starts_with("file:")) {
    return absl::InvalidArgumentError(
        absl::StrCat("ResultStore needs a file path (readers open it too), got '", path, "'"));
  }
  auto writer = std::make_unique<Writer>();
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path, Database::Options{});
  if (!db.ok()) return db.status();
  writer->db = std::move(*db);
  STORE_RETURN_IF_ERROR(Migrate(*writer->db));
  STORE_RETURN_IF_ERROR(writer->Prepare());
  return std::unique_ptr<ResultStore>(new ResultStore(path, std::move(writer)));
}

ResultStore::ResultStore(std::string path, std::unique_ptr<Writer> writer)
    : path_(std::move(path)), writer_(std::move(writer)) {
  writer_thread_ = std::thread([this] { WriterLoop(); });
}

ResultStore::~ResultStore() {
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  writer_thread_.join();
}

absl::StatusOr<InsertOutcome> ResultStore::Insert(const StoredResult& result) {
  if (result.id.empty()) return absl::InvalidArgumentError("result id is empty");
  if (result.nonce.empty()) return absl::InvalidArgumentError("result nonce is empty");
  if (result.ranked && !std::isfinite(result.score)) {
    return absl::InvalidArgumentError(
        absl::StrCat("ranked result ", result.id, " has a non-finite score"));
  }
  WriteRequest request{&result, {}};
  std::future<absl::StatusOr<InsertOutcome>> done = request.done.get_future();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) return absl::UnavailableError("the result store is closing");
    queue_.push_back(&request);
  }
  queue_cv_.notify_one();
  return done.get();
}

void ResultStore::WriterLoop() {
  std::vector<WriteRequest*> group;
  for (;;) {
    group.clear();
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and every request is answered
      while (!queue_.empty() && group.size() < kMaxGroup) {
        group.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    CommitGroup(group);
  }
}

void ResultStore::CommitGroup(std::vector<WriteRequest*>& group) {
  std::vector<absl::StatusOr<InsertOutcome>> outcomes;
  outcomes.reserve(group.size());
  absl::Status group_status;
  {
    Transaction txn(*writer_->db);
    group_status = txn.Begin();
    if (group_status.ok()) {
      for (WriteRequest* request : group) {
        Writer& w = *writer_;
        absl::Status s = w.savepoint.Run();
        w.savepoint.Reset();
        if (!s.ok()) {
          group_status = s;
          break;
        }
        absl::StatusOr<InsertOutcome> outcome = InsertOne(*request->result);
        if (!outcome.ok()) {
          s = w.rollback_to.Run();
          w.rollback_to.Reset();
          if (!s.ok()) {
            group_status = s;
            break;
          }
        }
        s = w.release.Run();
        w.release.Reset();
        if (!s.ok()) {
          group_status = s;
          break;
        }
        outcomes.push_back(std::move(outcome));
      }
    }
    if (group_status.ok()) group_status = txn.Commit();
  }  // rolled back here unless committed
  for (size_t i = 0; i < group.size(); ++i) {
    if (!group_status.ok()) {
      group[i]->done.set_value(group_status);
    } else {
      group[i]->done.set_value(std::move(outcomes[i]));
    }
  }
}

absl::StatusOr<InsertOutcome> ResultStore::InsertOne(const StoredResult& r) {
  Writer& w = *writer_;
  {
    absl::Cleanup reset = [&w] { w.find_nonce.Reset(); };
    STORE_RETURN_IF_ERROR(w.find_nonce.BindBlob(1, r.nonce));
    absl::StatusOr<bool> row = w.find_nonce.Step();
    if (!row.ok()) return row.status();
    if (*row) return InsertOutcome{false, w.find_nonce.ColumnBytes(0)};
  }
  {
    absl::Cleanup reset = [&w] { w.upsert_agent.Reset(); };
    STORE_RETURN_IF_ERROR(w.upsert_agent.BindBlob(1, r.public_key));
    STORE_RETURN_IF_ERROR(w.upsert_agent.BindInt64(2, r.received_us));
    STORE_RETURN_IF_ERROR(w.upsert_agent.BindInt64(3, r.ranked ? 1 : 0));
    STORE_RETURN_IF_ERROR(w.upsert_agent.Run());
  }
  {
    Statement& s = w.insert_result;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindText(1, r.id));
    STORE_RETURN_IF_ERROR(s.BindBlob(2, r.nonce));
    STORE_RETURN_IF_ERROR(s.BindBlob(3, r.public_key));
    STORE_RETURN_IF_ERROR(s.BindText(4, r.suite));
    STORE_RETURN_IF_ERROR(s.BindText(5, r.suite_sha256));
    STORE_RETURN_IF_ERROR(s.BindInt64(6, r.received_us));
    STORE_RETURN_IF_ERROR(s.BindText(7, r.gpu));
    STORE_RETURN_IF_ERROR(s.BindText(8, r.backend));
    STORE_RETURN_IF_ERROR(s.BindDouble(9, r.score));
    STORE_RETURN_IF_ERROR(s.BindText(10, r.status));
    STORE_RETURN_IF_ERROR(s.BindInt64(11, r.flags));
    STORE_RETURN_IF_ERROR(s.BindInt64(12, r.ranked ? 1 : 0));
    STORE_RETURN_IF_ERROR(s.BindBlob(13, r.envelope));
    STORE_RETURN_IF_ERROR(s.Run());
  }
  for (const StoredCase& c : r.cases) {
    Statement& s = w.insert_case;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindText(1, r.id));
    STORE_RETURN_IF_ERROR(s.BindText(2, c.case_name));
    STORE_RETURN_IF_ERROR(s.BindText(3, c.metric));
    STORE_RETURN_IF_ERROR(s.BindDouble(4, c.median));
    STORE_RETURN_IF_ERROR(s.Run());
  }
  if (r.ranked) {
    int64_t group_id = 0;
    {
      Statement& s = w.upsert_group;
      absl::Cleanup reset = [&s] { s.Reset(); };
      STORE_RETURN_IF_ERROR(s.BindText(1, r.suite));
      STORE_RETURN_IF_ERROR(s.BindText(2, r.gpu));
      STORE_RETURN_IF_ERROR(s.BindText(3, r.backend));
      STORE_RETURN_IF_ERROR(s.BindDouble(4, r.score));
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::InternalError("gpu_aggregates upsert returned no group_id");
      group_id = s.ColumnInt64(0);
      if (absl::StatusOr<bool> more = s.Step(); !more.ok()) return more.status();
    }
    Statement& s = w.insert_score;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindInt64(1, group_id));
    STORE_RETURN_IF_ERROR(s.BindDouble(2, r.score));
    STORE_RETURN_IF_ERROR(s.BindText(3, r.id));
    STORE_RETURN_IF_ERROR(s.Run());
  }
  return InsertOutcome{true, r.id};
}

absl::StatusOr<std::unique_ptr<ResultStore::Reader>> ResultStore::AcquireReader() {
  {
    std::lock_guard<std::mutex> lock(readers_mu_);
    if (!idle_readers_.empty()) {
      std::unique_ptr<Reader> reader = std::move(idle_readers_.back());
      idle_readers_.pop_back();
      return reader;
    }
  }
  auto reader = std::make_unique<Reader>();
  Database::Options options;
  options.read_only = true;
  absl::StatusOr<std::unique_ptr<Database>> db = Database::Open(path_, options);
  if (!db.ok()) return db.status();
  reader->db = std::move(*db);
  STORE_RETURN_IF_ERROR(reader->Prepare());
  return reader;
}

void ResultStore::ReleaseReader(std::unique_ptr<Reader> reader) {
  std::lock_guard<std::mutex> lock(readers_mu_);
  if (idle_readers_.size() < kMaxIdleReaders) idle_readers_.push_back(std::move(reader));
}

absl::StatusOr<StoredResult> ResultStore::GetById(std::string_view id) {
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  Transaction snapshot(*reader->db, Transaction::Mode::kDeferred);
  STORE_RETURN_IF_ERROR(snapshot.Begin());
  StoredResult r;
  {
    Statement& s = reader->by_id;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindText(1, id));
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row)
      return absl::NotFoundError(
          absl::StrCat("no result with id '", absl::string_view(id.data(), id.size()), "'"));
    r.id = s.ColumnBytes(0);
    r.nonce = s.ColumnBytes(1);
    r.public_key = s.ColumnBytes(2);
    r.suite = s.ColumnBytes(3);
    r.suite_sha256 = s.ColumnBytes(4);
    r.received_us = s.ColumnInt64(5);
    r.gpu = s.ColumnBytes(6);
    r.backend = s.ColumnBytes(7);
    r.score = s.ColumnDouble(8);
    r.status = s.ColumnBytes(9);
    r.flags = s.ColumnInt64(10);
    r.ranked = s.ColumnInt64(11) != 0;
    r.envelope = s.ColumnBytes(12);
  }
  {
    Statement& s = reader->cases_of;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindText(1, id));
    for (;;) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      r.cases.push_back(StoredCase{s.ColumnBytes(0), s.ColumnBytes(1), s.ColumnDouble(2)});
    }
  }
  STORE_RETURN_IF_ERROR(snapshot.Commit());
  return r;
}

absl::StatusOr<std::vector<LeaderboardRow>> ResultStore::Leaderboard(std::string_view suite) {
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  Transaction snapshot(*reader->db, Transaction::Mode::kDeferred);
  STORE_RETURN_IF_ERROR(snapshot.Begin());

  std::vector<LeaderboardRow> rows;
  std::vector<int64_t> group_ids;
  {
    Statement& s = reader->groups_of;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindText(1, suite));
    for (;;) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      group_ids.push_back(s.ColumnInt64(0));
      LeaderboardRow out;
      out.gpu = s.ColumnBytes(1);
      out.backend = s.ColumnBytes(2);
      out.count = s.ColumnInt64(3);
      out.best = s.ColumnDouble(4);
      rows.push_back(std::move(out));
    }
  }
  // The q-quantile of the group's n sorted scores: the two scores around
  // position q * (n - 1), read with one indexed LIMIT 2 OFFSET lookup.
  auto quantile = [&reader](int64_t group_id, int64_t n, double q) -> absl::StatusOr<double> {
    double position = q * static_cast<double>(n - 1);
    int64_t lo = static_cast<int64_t>(std::floor(position));
    double fraction = position - static_cast<double>(lo);
    Statement& s = reader->scores_at;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindInt64(1, group_id));
    STORE_RETURN_IF_ERROR(s.BindInt64(2, fraction > 0 ? 2 : 1));
    STORE_RETURN_IF_ERROR(s.BindInt64(3, lo));
    double values[2] = {0, 0};
    int got = 0;
    for (; got < 2; ++got) {
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) break;
      values[got] = s.ColumnDouble(0);
    }
    if (got == 0 || (fraction > 0 && got < 2)) {
      return absl::InternalError(
          absl::StrCat("aggregate group ", group_id, " holds fewer than ", n, " scores"));
    }
    return fraction > 0 ? values[0] + (values[1] - values[0]) * fraction : values[0];
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    LeaderboardRow& row = rows[i];
    for (auto [q, field] :
         {std::pair{0.5, &row.median}, std::pair{0.25, &row.p25}, std::pair{0.75, &row.p75}}) {
      absl::StatusOr<double> value = quantile(group_ids[i], row.count, q);
      if (!value.ok()) return value.status();
      *field = *value;
    }
  }
  STORE_RETURN_IF_ERROR(snapshot.Commit());
  std::stable_sort(rows.begin(), rows.end(), [](const LeaderboardRow& a, const LeaderboardRow& b) {
    if (a.median != b.median) return a.median > b.median;
    if (a.gpu != b.gpu) return a.gpu < b.gpu;
    return a.backend < b.backend;
  });
  return rows;
}

}  // namespace aiscore::collector
