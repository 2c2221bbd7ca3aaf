#include "collector/store/result_store.h"

#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <future>
#include <map>
#include <span>
#include <system_error>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "collector/store/quantile_cursor.h"
#include "collector/store/schema.h"
#include "scoring/statistics.h"

namespace aiscore::collector {
namespace {

constexpr size_t kMaxGroup = 256;       // requests committed in one transaction at most
constexpr size_t kMaxIdleReaders = 16;  // reader connections kept open for reuse
constexpr size_t kMaxIdBytes = 256;  // ids are 16 hex characters; the cursor format allows 64 KiB
constexpr int64_t kRescoreBatch = 2000;  // results rescored per committed transaction

// The statistics a group keeps values of, as group_values.stat numbers them.
enum Stat : int { kScore, kPrefill, kDecode, kLatency, kLongContext, kSpeculative, kCapacity };
constexpr int kStats = 7;

double StatOf(const StoredScores& s, int stat) {
  switch (stat) {
    case kScore:
      return s.score;
    case kPrefill:
      return s.sub.prefill;
    case kDecode:
      return s.sub.decode;
    case kLatency:
      return s.sub.latency;
    case kLongContext:
      return s.sub.long_context;
    case kSpeculative:
      return s.sub.speculative;
    default:
      return s.sub.capacity;
  }
}

// The quantiles a group keeps, in the order of its cursors and of the
// gpu_groups columns p25, median, p75, prefill .. capacity. Groups of the
// every-format board ("") keep all of them over all kStats statistics; groups
// of one format keep the score's three (kFormatTrackers) over the score alone,
// which keeps each insert to 7 + 4 index entries instead of 35.
struct Tracker {
  int stat;
  double q;
};
constexpr std::array<Tracker, 9> kTrackers = {{{kScore, 0.25},
                                               {kScore, 0.5},
                                               {kScore, 0.75},
                                               {kPrefill, 0.5},
                                               {kDecode, 0.5},
                                               {kLatency, 0.5},
                                               {kLongContext, 0.5},
                                               {kSpeculative, 0.5},
                                               {kCapacity, 0.5}}};
constexpr size_t kFormatTrackers = 3;

std::span<const Tracker> TrackersOf(std::string_view format) {
  return std::span<const Tracker>(kTrackers).first(format.empty() ? kTrackers.size()
                                                                  : kFormatTrackers);
}
int StatsOf(std::string_view format) { return format.empty() ? kStats : 1; }

// The group columns every group read selects, in LeaderboardRow order.
constexpr char kGroupColumns[] =
    "gpu, backend, count, best, best_result_id, p25, median, p75, prefill, decode, latency, "
    "long_context, speculative, capacity";

LeaderboardRow ReadGroupRow(const Statement& s) {
  LeaderboardRow row;
  row.gpu = s.ColumnBytes(0);
  row.backend = s.ColumnBytes(1);
  row.count = s.ColumnInt64(2);
  row.best = s.ColumnDouble(3);
  row.best_result_id = s.ColumnBytes(4);
  row.p25 = s.ColumnDouble(5);
  row.median = s.ColumnDouble(6);
  row.p75 = s.ColumnDouble(7);
  row.median_sub = {s.ColumnDouble(8),  s.ColumnDouble(9),  s.ColumnDouble(10),
                    s.ColumnDouble(11), s.ColumnDouble(12), s.ColumnDouble(13)};
  return row;
}

// The results columns a read selects, from `results r`, in ReadResult's order.
constexpr char kResultColumns[] =
    "r.id, r.nonce, r.agent_key, r.suite, r.suite_sha256, r.received_us, r.gpu, r.backend, "
    "r.score, r.status, r.flags";
constexpr int kResultColumnCount = 11;

// A result from kResultColumns starting at column `first` (no envelope, cases or scores).
StoredResult ReadResult(const Statement& s, int first) {
  StoredResult r;
  r.id = s.ColumnBytes(first);
  r.nonce = s.ColumnBytes(first + 1);
  r.public_key = s.ColumnBytes(first + 2);
  r.suite = s.ColumnBytes(first + 3);
  r.suite_sha256 = s.ColumnBytes(first + 4);
  r.received_us = s.ColumnInt64(first + 5);
  r.gpu = s.ColumnBytes(first + 6);
  r.backend = s.ColumnBytes(first + 7);
  r.score = s.ColumnDouble(first + 8);
  r.status = s.ColumnBytes(first + 9);
  r.flags = s.ColumnInt64(first + 10);
  return r;
}

// The result_scores columns a read selects, from `result_scores rs`, in ReadScores' order.
constexpr char kScoresColumns[] =
    "rs.format, rs.score, rs.prefill, rs.decode, rs.latency, rs.long_context, rs.speculative, "
    "rs.capacity";

StoredScores ReadScores(const Statement& s, int first) {
  return StoredScores{
      s.ColumnBytes(first),
      s.ColumnDouble(first + 1),
      {s.ColumnDouble(first + 2), s.ColumnDouble(first + 3), s.ColumnDouble(first + 4),
       s.ColumnDouble(first + 5), s.ColumnDouble(first + 6), s.ColumnDouble(first + 7)}};
}

bool AllFinite(const StoredScores& s) {
  for (int stat = 0; stat < kStats; ++stat) {
    if (!std::isfinite(StatOf(s, stat))) return false;
  }
  return true;
}

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
  const StoredResult* result = nullptr;      // an insert, or
  std::function<absl::Status(Writer&)> job;  // an operator action run alone
  std::promise<absl::StatusOr<InsertOutcome>> done;
};

struct ResultStore::Writer {
  std::unique_ptr<Database> db;
  uint64_t last_id = 0;  // the last id NextId() gave, as a number
  Statement savepoint, release, rollback_to;
  Statement find_nonce, upsert_agent, insert_result, insert_case, insert_scores;
  Statement upsert_group, insert_value, step_forward, step_backward, update_group;
  Statement nth_value, best_of_group, count_of_group;

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
    STORE_PREPARE(*db, insert_scores,
                  "INSERT INTO result_scores (result_id, format, score, prefill, decode, latency, "
                  "long_context, speculative, capacity) "
                  "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
    // A new group starts empty (count 0, no cursors); an existing one keeps
    // its best unless this score beats it (ties: the smaller id).
    STORE_PREPARE(*db, upsert_group,
                  "INSERT INTO gpu_groups (suite, format, gpu, backend, count, best, "
                  "best_result_id, p25, median, p75, prefill, decode, latency, long_context, "
                  "speculative, capacity, cursors) "
                  "VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, 0, 0, 0, 0, 0, 0, 0, 0, 0, x'') "
                  "ON CONFLICT (suite, format, gpu, backend) DO UPDATE SET "
                  "best_result_id = CASE WHEN excluded.best > best OR (excluded.best = best AND "
                  "excluded.best_result_id < best_result_id) THEN excluded.best_result_id "
                  "ELSE best_result_id END, "
                  "best = max(best, excluded.best) "
                  "RETURNING group_id, count, cursors");
    STORE_PREPARE(*db, insert_value,
                  "INSERT INTO group_values (group_id, stat, value, result_id) "
                  "VALUES (?1, ?2, ?3, ?4)");
    STORE_PREPARE(*db, step_forward,
                  "SELECT value, result_id FROM group_values WHERE group_id = ?1 AND stat = ?2 "
                  "AND (value, result_id) > (?3, ?4) ORDER BY value, result_id LIMIT 1");
    STORE_PREPARE(*db, step_backward,
                  "SELECT value, result_id FROM group_values WHERE group_id = ?1 AND stat = ?2 "
                  "AND (value, result_id) < (?3, ?4) ORDER BY value DESC, result_id DESC "
                  "LIMIT 1");
    STORE_PREPARE(*db, update_group,
                  "UPDATE gpu_groups SET count = ?2, p25 = ?3, median = ?4, p75 = ?5, "
                  "prefill = ?6, decode = ?7, latency = ?8, long_context = ?9, "
                  "speculative = ?10, capacity = ?11, cursors = ?12 WHERE group_id = ?1");
    STORE_PREPARE(*db, nth_value,
                  "SELECT value, result_id FROM group_values WHERE group_id = ?1 AND stat = ?2 "
                  "ORDER BY value, result_id LIMIT 2 OFFSET ?3");
    STORE_PREPARE(*db, best_of_group,
                  "SELECT value, result_id FROM group_values WHERE group_id = ?1 AND stat = 0 "
                  "ORDER BY value DESC, result_id ASC LIMIT 1");
    STORE_PREPARE(*db, count_of_group,
                  "SELECT count(*) FROM group_values WHERE group_id = ?1 AND stat = 0");
    return absl::OkStatus();
  }

  // Continues after the largest 16-hex-digit id stored, so ids stay unique
  // across restarts even when the clock went back.
  absl::Status LoadLastId() {
    absl::StatusOr<Statement> s = db->Prepare(
        "SELECT max(id) FROM results WHERE length(id) = 16 AND id NOT GLOB '*[^0-9a-f]*'");
    if (!s.ok()) return s.status();
    absl::StatusOr<bool> row = s->Step();
    if (!row.ok()) return row.status();
    if (*row && !s->ColumnIsNull(0)) last_id = std::stoull(s->ColumnBytes(0), nullptr, 16);
    return absl::OkStatus();
  }

  // A new id: 16 lower-case hex digits of (milliseconds since the epoch << 16)
  // + a sequence number, so ids grow with time (results, their scores and
  // cases append at the end of their indexes) and never repeat.
  std::string NextId() {
    const uint64_t now = static_cast<uint64_t>(absl::ToUnixMillis(absl::Now())) << 16;
    last_id = std::max(last_id + 1, now);
    return absl::StrFormat("%016x", last_id);
  }

  // The entry next to `from` in group `group_id`'s values of `stat`.
  absl::StatusOr<OrderedEntry> Step(int64_t group_id, int stat, const OrderedEntry& from,
                                    bool forward) {
    Statement& s = forward ? step_forward : step_backward;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindAll(group_id, stat, from.value, from.id));
    absl::StatusOr<bool> row = s.Step();
    if (!row.ok()) return row.status();
    if (!*row) {
      return absl::InternalError(absl::StrCat("group ", group_id, " stat ", stat, " has no entry ",
                                              forward ? "after" : "before",
                                              " its quantile cursor"));
    }
    return OrderedEntry{s.ColumnDouble(0), s.ColumnBytes(1)};
  }

  StepFn Stepper(int64_t group_id, int stat) {
    return [this, group_id, stat](const OrderedEntry& from, bool forward) {
      return Step(group_id, stat, from, forward);
    };
  }

  // Writes a group's count, its quantiles from `cursors` and the cursors.
  absl::Status StoreGroup(int64_t group_id, std::string_view format, int64_t count,
                          const std::vector<QuantileCursor>& cursors) {
    Statement& s = update_group;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindAll(group_id, count));
    const std::span<const Tracker> trackers = TrackersOf(format);
    for (size_t t = 0; t < kTrackers.size(); ++t) {
      double value = 0;  // a quantile this group does not keep
      if (t < trackers.size()) {
        absl::StatusOr<double> q = CursorQuantile(trackers[t].q, count, cursors[t]);
        if (!q.ok()) return q.status();
        value = *q;
      }
      STORE_RETURN_IF_ERROR(s.BindDouble(static_cast<int>(t) + 3, value));
    }
    STORE_RETURN_IF_ERROR(s.BindBlob(12, EncodeCursors(cursors)));
    return s.Run();
  }

  // Adds a ranked result's scores of one format to its group.
  absl::Status AddToGroup(const StoredResult& r, const std::string& id,
                          const StoredScores& scores) {
    int64_t group_id = 0, count = 0;
    std::string cursor_bytes;
    {
      Statement& s = upsert_group;
      absl::Cleanup reset = [&s] { s.Reset(); };
      STORE_RETURN_IF_ERROR(s.BindAll(r.suite, scores.format, r.gpu, r.backend, scores.score, id));
      absl::StatusOr<bool> row = s.Step();
      if (!row.ok()) return row.status();
      if (!*row) return absl::InternalError("gpu_groups upsert returned no row");
      group_id = s.ColumnInt64(0);
      count = s.ColumnInt64(1) + 1;
      cursor_bytes = s.ColumnBytes(2);
      if (absl::StatusOr<bool> more = s.Step(); !more.ok()) return more.status();
    }
    for (int stat = 0; stat < StatsOf(scores.format); ++stat) {
      Statement& s = insert_value;
      absl::Cleanup reset = [&s] { s.Reset(); };
      STORE_RETURN_IF_ERROR(s.BindAll(group_id, stat, StatOf(scores, stat), id));
      STORE_RETURN_IF_ERROR(s.Run());
    }
    const std::span<const Tracker> trackers = TrackersOf(scores.format);
    std::vector<QuantileCursor> cursors(trackers.size());
    if (count > 1) {
      absl::StatusOr<std::vector<QuantileCursor>> decoded =
          DecodeCursors(cursor_bytes, trackers.size());
      if (!decoded.ok()) return decoded.status();
      cursors = *std::move(decoded);
    }
    for (size_t t = 0; t < trackers.size(); ++t) {
      const int stat = trackers[t].stat;
      STORE_RETURN_IF_ERROR(AdvanceCursor(trackers[t].q, count,
                                          OrderedEntry{StatOf(scores, stat), id},
                                          Stepper(group_id, stat), &cursors[t]));
    }
    return StoreGroup(group_id, scores.format, count, cursors);
  }

  // Recomputes the groups of (suite, gpu, backend), every format, from the
  // ranked results' stored scores.
  absl::Status RebuildFamily(const std::string& suite, const std::string& gpu,
                             const std::string& backend) {
    {
      absl::StatusOr<Statement> drop =
          db->Prepare("DELETE FROM gpu_groups WHERE suite = ?1 AND gpu = ?2 AND backend = ?3");
      if (!drop.ok()) return drop.status();
      STORE_RETURN_IF_ERROR(drop->BindAll(suite, gpu, backend));
      STORE_RETURN_IF_ERROR(drop->Run());  // group_values go with them (ON DELETE CASCADE)
    }
    std::vector<std::string> formats;
    {
      absl::StatusOr<Statement> list = db->Prepare(
          "SELECT DISTINCT rs.format FROM results r JOIN result_scores rs ON rs.result_id = r.id "
          "WHERE r.suite = ?1 AND r.gpu = ?2 AND r.backend = ?3 AND r.ranked = 1");
      if (!list.ok()) return list.status();
      STORE_RETURN_IF_ERROR(list->BindAll(suite, gpu, backend));
      STORE_RETURN_IF_ERROR(list->ForEachRow([&]() -> absl::Status {
        formats.push_back(list->ColumnBytes(0));
        return absl::OkStatus();
      }));
    }
    for (const std::string& format : formats) {
      int64_t group_id = 0;
      {
        absl::StatusOr<Statement> create = db->Prepare(
            "INSERT INTO gpu_groups (suite, format, gpu, backend, count, best, best_result_id, "
            "p25, median, p75, prefill, decode, latency, long_context, speculative, capacity, "
            "cursors) VALUES (?1, ?2, ?3, ?4, 0, 0, '', 0, 0, 0, 0, 0, 0, 0, 0, 0, x'') "
            "RETURNING group_id");
        if (!create.ok()) return create.status();
        STORE_RETURN_IF_ERROR(create->BindAll(suite, format, gpu, backend));
        absl::StatusOr<bool> row = create->Step();
        if (!row.ok()) return row.status();
        if (!*row) return absl::InternalError("gpu_groups insert returned no row");
        group_id = create->ColumnInt64(0);
        if (absl::StatusOr<bool> more = create->Step(); !more.ok()) return more.status();
      }
      {
        absl::StatusOr<Statement> fill = db->Prepare(
            "WITH m AS (SELECT r.id AS id, rs.* FROM results r JOIN result_scores rs "
            "ON rs.result_id = r.id AND rs.format = ?4 "
            "WHERE r.suite = ?1 AND r.gpu = ?2 AND r.backend = ?3 AND r.ranked = 1) "
            "INSERT INTO group_values (group_id, stat, value, result_id) "
            "SELECT ?5, 0, score, id FROM m UNION ALL SELECT ?5, 1, prefill, id FROM m "
            "WHERE ?6 UNION ALL SELECT ?5, 2, decode, id FROM m WHERE ?6 "
            "UNION ALL SELECT ?5, 3, latency, id FROM m WHERE ?6 "
            "UNION ALL SELECT ?5, 4, long_context, id FROM m WHERE ?6 "
            "UNION ALL SELECT ?5, 5, speculative, id FROM m WHERE ?6 "
            "UNION ALL SELECT ?5, 6, capacity, id FROM m WHERE ?6 "
            // Sorted first, so the index is written in order, not at random.
            "ORDER BY 2, 3, 4");
        if (!fill.ok()) return fill.status();
        STORE_RETURN_IF_ERROR(
            fill->BindAll(suite, gpu, backend, format, group_id, StatsOf(format) > 1 ? 1 : 0));
        STORE_RETURN_IF_ERROR(fill->Run());
      }
      int64_t count = 0;
      {
        Statement& s = count_of_group;
        absl::Cleanup reset = [&s] { s.Reset(); };
        STORE_RETURN_IF_ERROR(s.BindInt64(1, group_id));
        absl::StatusOr<bool> row = s.Step();
        if (!row.ok()) return row.status();
        count = s.ColumnInt64(0);
      }
      {
        Statement& s = best_of_group;
        absl::Cleanup reset = [&s] { s.Reset(); };
        STORE_RETURN_IF_ERROR(s.BindInt64(1, group_id));
        absl::StatusOr<bool> row = s.Step();
        if (!row.ok()) return row.status();
        if (!*row)
          return absl::InternalError(absl::StrCat("rebuilt group ", group_id, " is empty"));
        absl::StatusOr<Statement> set_best =
            db->Prepare("UPDATE gpu_groups SET best = ?2, best_result_id = ?3 WHERE group_id = ?1");
        if (!set_best.ok()) return set_best.status();
        STORE_RETURN_IF_ERROR(set_best->BindAll(group_id, s.ColumnDouble(0), s.ColumnBytes(1)));
        STORE_RETURN_IF_ERROR(set_best->Run());
      }
      const std::span<const Tracker> trackers = TrackersOf(format);
      std::vector<QuantileCursor> cursors(trackers.size());
      for (size_t t = 0; t < trackers.size(); ++t) {
        Statement& s = nth_value;
        absl::Cleanup reset = [&s] { s.Reset(); };
        const int64_t rank = TargetRank(trackers[t].q, count);
        STORE_RETURN_IF_ERROR(s.BindAll(group_id, trackers[t].stat, rank));
        absl::StatusOr<bool> row = s.Step();
        if (!row.ok()) return row.status();
        if (!*row)
          return absl::InternalError(absl::StrCat("group ", group_id, " lacks rank ", rank));
        cursors[t] =
            QuantileCursor{rank, OrderedEntry{s.ColumnDouble(0), s.ColumnBytes(1)}, false, {}};
        absl::StatusOr<bool> next = s.Step();
        if (!next.ok()) return next.status();
        if (*next) {
          cursors[t].has_next = true;
          cursors[t].next = OrderedEntry{s.ColumnDouble(0), s.ColumnBytes(1)};
        }
      }
      STORE_RETURN_IF_ERROR(StoreGroup(group_id, format, count, cursors));
    }
    return absl::OkStatus();
  }

  // Rebuilds every family that has a ranked result, after dropping all groups.
  absl::Status RebuildAll() {
    STORE_RETURN_IF_ERROR(db->Execute("DELETE FROM gpu_groups"));
    absl::StatusOr<Statement> families =
        db->Prepare("SELECT DISTINCT suite, gpu, backend FROM results WHERE ranked = 1");
    if (!families.ok()) return families.status();
    std::vector<std::array<std::string, 3>> all;
    STORE_RETURN_IF_ERROR(families->ForEachRow([&]() -> absl::Status {
      all.push_back({families->ColumnBytes(0), families->ColumnBytes(1), families->ColumnBytes(2)});
      return absl::OkStatus();
    }));
    families->Reset();
    for (const auto& [suite, gpu, backend] : all) {
      STORE_RETURN_IF_ERROR(RebuildFamily(suite, gpu, backend));
    }
    return absl::OkStatus();
  }

  absl::Status InsertScores(const std::string& id, const StoredScores& scores) {
    Statement& s = insert_scores;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindAll(id, scores.format));
    for (int stat = 0; stat < kStats; ++stat) {
      STORE_RETURN_IF_ERROR(s.BindDouble(stat + 3, StatOf(scores, stat)));
    }
    return s.Run();
  }
};

struct ResultStore::Reader {
  std::unique_ptr<Database> db;
  Statement by_id, cases_of, scores_of, groups_of, group, banned, max_rowid, ping;

  absl::Status Prepare() {
    STORE_PREPARE(
        *db, by_id,
        absl::StrCat("SELECT ", kResultColumns, ", r.envelope FROM results r WHERE r.id = ?1"));
    STORE_PREPARE(*db, cases_of,
                  "SELECT case_name, metric, median FROM cases WHERE result_id = ?1 "
                  "ORDER BY rowid");
    STORE_PREPARE(
        *db, scores_of,
        absl::StrCat("SELECT ", kScoresColumns,
                     " FROM result_scores rs WHERE rs.result_id = ?1 ORDER BY rs.format"));
    STORE_PREPARE(*db, groups_of,
                  absl::StrCat("SELECT ", kGroupColumns,
                               " FROM gpu_groups WHERE suite = ?1 AND format = ?2"));
    STORE_PREPARE(*db, group,
                  absl::StrCat("SELECT ", kGroupColumns,
                               " FROM gpu_groups WHERE suite = ?1 AND format = ?2 AND gpu = ?3 "
                               "AND backend = ?4"));
    STORE_PREPARE(*db, banned, "SELECT banned FROM agents WHERE public_key = ?1");
    STORE_PREPARE(*db, max_rowid, "SELECT coalesce(max(rowid), 0) FROM results");
    STORE_PREPARE(*db, ping, "SELECT 1");
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

std::vector<std::string> FlagNames(int64_t flags) {
  static constexpr std::pair<int64_t, const char*> kNames[] = {
      {kFlagOutlier, "outlier:score"},
      {kFlagBannedKey, "banned-key"},
      {kFlagCustomModel, "custom-model"},
      {kFlagUnrankableSuite, "unrankable-suite"}};
  std::vector<std::string> names;
  for (int bit = 0; bit < 63; ++bit) {
    const int64_t mask = int64_t{1} << bit;
    if ((flags & mask) == 0) continue;
    const char* name = nullptr;
    for (const auto& [flag, text] : kNames) {
      if (flag == mask) name = text;
    }
    names.push_back(name != nullptr ? std::string(name) : absl::StrCat("bit-", bit));
  }
  return names;
}

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
  // The writer walks indexes of every group it touches: keep them in memory.
  STORE_RETURN_IF_ERROR(writer->db->Execute("PRAGMA cache_size = -262144"));  // 256 MiB
  // Checkpoint the write-ahead log every 16 MiB rather than every 4 MiB: fewer,
  // larger copies into the database file between group commits.
  STORE_RETURN_IF_ERROR(writer->db->Execute("PRAGMA wal_autocheckpoint = 4096"));
  STORE_RETURN_IF_ERROR(writer->Prepare());
  STORE_RETURN_IF_ERROR(writer->LoadLastId());
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
  if (result.id.size() > kMaxIdBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("result id has ", result.id.size(), " bytes; at most ", kMaxIdBytes));
  }
  if (result.nonce.empty()) return absl::InvalidArgumentError("result nonce is empty");
  if (!std::isfinite(result.score)) {
    return absl::InvalidArgumentError(
        absl::StrCat("result ", result.id, " has a non-finite score"));
  }
  bool overall = false;
  for (const StoredScores& s : result.scores) {
    if (!AllFinite(s)) {
      return absl::InvalidArgumentError(
          absl::StrCat("result ", result.id, " has a non-finite score or sub-score for format '",
                       s.format, "'"));
    }
    overall |= s.format.empty();
  }
  if (result.ranked() && !overall) {
    return absl::InvalidArgumentError(
        absl::StrCat("ranked result ", result.id, " has no scores over every format"));
  }
  WriteRequest request;
  request.result = &result;
  std::future<absl::StatusOr<InsertOutcome>> done = request.done.get_future();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) return absl::UnavailableError("the result store is closing");
    queue_.push_back(&request);
  }
  queue_cv_.notify_one();
  return done.get();
}

absl::Status ResultStore::RunOnWriter(std::function<absl::Status(Writer&)> job) {
  WriteRequest request;
  request.job = std::move(job);
  std::future<absl::StatusOr<InsertOutcome>> done = request.done.get_future();
  {
    std::lock_guard<std::mutex> lock(queue_mu_);
    if (stopping_) return absl::UnavailableError("the result store is closing");
    queue_.push_back(&request);
  }
  queue_cv_.notify_one();
  return done.get().status();
}

void ResultStore::WriterLoop() {
  std::vector<WriteRequest*> group;
  for (;;) {
    group.clear();
    WriteRequest* job = nullptr;
    {
      std::unique_lock<std::mutex> lock(queue_mu_);
      queue_cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and every request is answered
      if (queue_.front()->job) {
        job = queue_.front();
        queue_.pop_front();
      }
      while (job == nullptr && !queue_.empty() && !queue_.front()->job &&
             group.size() < kMaxGroup) {
        group.push_back(queue_.front());
        queue_.pop_front();
      }
    }
    if (job != nullptr) {
      absl::Status s = job->job(*writer_);
      if (s.ok()) {
        job->done.set_value(InsertOutcome{});
      } else {
        job->done.set_value(s);
      }
      continue;
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
  const std::string id = r.id.empty() ? w.NextId() : r.id;
  {
    absl::Cleanup reset = [&w] { w.upsert_agent.Reset(); };
    STORE_RETURN_IF_ERROR(
        w.upsert_agent.BindAll(Blob{r.public_key}, r.received_us, r.ranked() ? 1 : 0));
    STORE_RETURN_IF_ERROR(w.upsert_agent.Run());
  }
  {
    Statement& s = w.insert_result;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindAll(id, Blob{r.nonce}, Blob{r.public_key}, r.suite, r.suite_sha256,
                                    r.received_us, r.gpu, r.backend, r.score, r.status, r.flags,
                                    r.ranked() ? 1 : 0, Blob{r.envelope}));
    STORE_RETURN_IF_ERROR(s.Run());
  }
  for (const StoredCase& c : r.cases) {
    Statement& s = w.insert_case;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindAll(id, c.case_name, c.metric, c.median));
    STORE_RETURN_IF_ERROR(s.Run());
  }
  for (const StoredScores& scores : r.scores) {
    STORE_RETURN_IF_ERROR(w.InsertScores(id, scores));
    if (r.ranked()) STORE_RETURN_IF_ERROR(w.AddToGroup(r, id, scores));
  }
  return InsertOutcome{true, id};
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
      return absl::NotFoundError(absl::StrCat("no result with id '", std::string(id), "'"));
    r = ReadResult(s, 0);
    r.envelope = s.ColumnBytes(kResultColumnCount);
  }
  {
    Statement& s = reader->cases_of;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindText(1, id));
    STORE_RETURN_IF_ERROR(s.ForEachRow([&]() -> absl::Status {
      r.cases.push_back(StoredCase{s.ColumnBytes(0), s.ColumnBytes(1), s.ColumnDouble(2)});
      return absl::OkStatus();
    }));
  }
  {
    Statement& s = reader->scores_of;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindText(1, id));
    STORE_RETURN_IF_ERROR(s.ForEachRow([&]() -> absl::Status {
      r.scores.push_back(ReadScores(s, 0));
      return absl::OkStatus();
    }));
  }
  STORE_RETURN_IF_ERROR(snapshot.Commit());
  return r;
}

absl::StatusOr<std::vector<LeaderboardRow>> ResultStore::Leaderboard(std::string_view suite,
                                                                     std::string_view format) {
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  std::vector<LeaderboardRow> rows;
  {
    Statement& s = reader->groups_of;
    absl::Cleanup reset = [&s] { s.Reset(); };
    STORE_RETURN_IF_ERROR(s.BindAll(suite, format));
    STORE_RETURN_IF_ERROR(s.ForEachRow([&]() -> absl::Status {
      rows.push_back(ReadGroupRow(s));
      return absl::OkStatus();
    }));
  }
  std::stable_sort(rows.begin(), rows.end(), [](const LeaderboardRow& a, const LeaderboardRow& b) {
    if (a.median != b.median) return a.median > b.median;
    if (a.gpu != b.gpu) return a.gpu < b.gpu;
    return a.backend < b.backend;
  });
  return rows;
}

absl::StatusOr<std::optional<LeaderboardRow>> ResultStore::Group(std::string_view suite,
                                                                 std::string_view format,
                                                                 std::string_view gpu,
                                                                 std::string_view backend) {
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  Statement& s = reader->group;
  absl::Cleanup reset = [&s] { s.Reset(); };
  STORE_RETURN_IF_ERROR(s.BindAll(suite, format, gpu, backend));
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  if (!*row) return std::optional<LeaderboardRow>();
  return std::optional<LeaderboardRow>(ReadGroupRow(s));
}

template <typename OnRow, typename... Values>
absl::Status ResultStore::ReadRows(std::string_view sql, OnRow on_row, const Values&... values) {
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  Transaction snapshot(*reader->db, Transaction::Mode::kDeferred);
  STORE_RETURN_IF_ERROR(snapshot.Begin());
  absl::StatusOr<Statement> s = reader->db->Prepare(sql);
  if (!s.ok()) return s.status();
  STORE_RETURN_IF_ERROR(s->BindAll(values...));
  STORE_RETURN_IF_ERROR(s->ForEachRow([&] { return on_row(*s); }));
  return snapshot.Commit();
}

absl::StatusOr<std::vector<double>> ResultStore::GroupScores(std::string_view suite,
                                                             std::string_view format,
                                                             std::string_view gpu,
                                                             std::string_view backend) {
  std::vector<double> scores;
  STORE_RETURN_IF_ERROR(ReadRows(
      "SELECT v.value FROM gpu_groups g JOIN group_values v ON v.group_id = g.group_id "
      "WHERE g.suite = ?1 AND g.format = ?2 AND g.gpu = ?3 AND g.backend = ?4 AND v.stat = 0 "
      "ORDER BY v.value",
      [&](const Statement& s) {
        scores.push_back(s.ColumnDouble(0));
        return absl::OkStatus();
      },
      suite, format, gpu, backend));
  return scores;
}

absl::StatusOr<std::vector<StoredResult>> ResultStore::RecentResults(std::string_view suite,
                                                                     std::string_view gpu,
                                                                     std::string_view backend,
                                                                     int limit) {
  std::vector<StoredResult> results;
  STORE_RETURN_IF_ERROR(ReadRows(
      absl::StrCat("SELECT ", kResultColumns,
                   " FROM results r WHERE r.suite = ?1 AND r.gpu = ?2 AND r.backend = ?3 "
                   "ORDER BY r.received_us DESC, r.id DESC LIMIT ?4"),
      [&](const Statement& s) {
        results.push_back(ReadResult(s, 0));
        return absl::OkStatus();
      },
      suite, gpu, backend, static_cast<int64_t>(std::max(limit, 0))));
  return results;
}

absl::StatusOr<std::vector<CaseMedian>> ResultStore::GroupCaseMedians(std::string_view suite,
                                                                      std::string_view gpu,
                                                                      std::string_view backend,
                                                                      int max_results) {
  std::map<std::pair<std::string, std::string>, std::vector<double>> values;
  STORE_RETURN_IF_ERROR(ReadRows(
      "SELECT c.case_name, c.metric, c.median FROM (SELECT r.id FROM results r "
      "WHERE r.suite = ?1 AND r.gpu = ?2 AND r.backend = ?3 AND r.ranked = 1 "
      "ORDER BY r.received_us DESC, r.id DESC LIMIT ?4) latest "
      "JOIN cases c ON c.result_id = latest.id WHERE c.median IS NOT NULL",
      [&](const Statement& s) {
        values[{s.ColumnBytes(0), s.ColumnBytes(1)}].push_back(s.ColumnDouble(2));
        return absl::OkStatus();
      },
      suite, gpu, backend, static_cast<int64_t>(std::max(max_results, 0))));
  std::vector<CaseMedian> medians;
  for (const auto& [key, v] : values) {
    medians.push_back(CaseMedian{key.first, key.second, Median(v), static_cast<int64_t>(v.size())});
  }
  return medians;
}

absl::StatusOr<std::vector<std::string>> ResultStore::AgentKeys() {
  std::vector<std::string> keys;
  STORE_RETURN_IF_ERROR(ReadRows("SELECT public_key FROM agents", [&](const Statement& s) {
    keys.push_back(s.ColumnBytes(0));
    return absl::OkStatus();
  }));
  return keys;
}

absl::StatusOr<bool> ResultStore::IsBanned(std::string_view public_key) {
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  Statement& s = reader->banned;
  absl::Cleanup reset = [&s] { s.Reset(); };
  STORE_RETURN_IF_ERROR(s.BindBlob(1, public_key));
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  return *row && s.ColumnInt64(0) != 0;
}

absl::StatusOr<int64_t> ResultStore::SetBanned(std::string_view public_key, bool banned) {
  const std::string key(public_key);
  int64_t results = 0;
  absl::Status status = RunOnWriter([&](Writer& w) -> absl::Status {
    Database& db = *w.db;
    Transaction txn(db);
    STORE_RETURN_IF_ERROR(txn.Begin());
    const int64_t now_us = absl::ToUnixMicros(absl::Now());
    static_assert(kFlagBannedKey == 2, "the SQL below sets and clears bit 2");
    {
      absl::StatusOr<Statement> s = db.Prepare(
          "INSERT INTO agents (public_key, first_seen_us, last_seen_us, banned) "
          "VALUES (?1, ?3, ?3, ?2) ON CONFLICT (public_key) DO UPDATE SET banned = ?2");
      if (!s.ok()) return s.status();
      STORE_RETURN_IF_ERROR(s->BindAll(Blob{key}, banned ? 1 : 0, now_us));
      STORE_RETURN_IF_ERROR(s->Run());
    }
    {
      absl::StatusOr<Statement> s = db.Prepare(
          "UPDATE results SET flags = CASE WHEN ?2 THEN flags | 2 ELSE flags & ~2 END, "
          "ranked = (CASE WHEN ?2 THEN flags | 2 ELSE flags & ~2 END) = 0 WHERE agent_key = ?1");
      if (!s.ok()) return s.status();
      STORE_RETURN_IF_ERROR(s->BindAll(Blob{key}, banned ? 1 : 0));
      STORE_RETURN_IF_ERROR(s->Run());
    }
    {
      absl::StatusOr<Statement> s = db.Prepare(
          "UPDATE agents SET ranked_results = "
          "(SELECT count(*) FROM results WHERE agent_key = ?1 AND ranked = 1) "
          "WHERE public_key = ?1");
      if (!s.ok()) return s.status();
      STORE_RETURN_IF_ERROR(s->BindBlob(1, key));
      STORE_RETURN_IF_ERROR(s->Run());
    }
    absl::StatusOr<Statement> families = db.Prepare(
        "SELECT suite, gpu, backend, count(*) FROM results WHERE agent_key = ?1 "
        "GROUP BY suite, gpu, backend");
    if (!families.ok()) return families.status();
    STORE_RETURN_IF_ERROR(families->BindBlob(1, key));
    std::vector<std::array<std::string, 3>> touched;
    STORE_RETURN_IF_ERROR(families->ForEachRow([&]() -> absl::Status {
      touched.push_back(
          {families->ColumnBytes(0), families->ColumnBytes(1), families->ColumnBytes(2)});
      results += families->ColumnInt64(3);
      return absl::OkStatus();
    }));
    families->Reset();
    for (const auto& [suite, gpu, backend] : touched) {
      STORE_RETURN_IF_ERROR(w.RebuildFamily(suite, gpu, backend));
    }
    return txn.Commit();
  });
  if (!status.ok()) return status;
  return results;
}

absl::StatusOr<int64_t> ResultStore::Rescore(const RescoreFn& rescore) {
  int64_t done = 0;
  absl::Status status = RunOnWriter([&](Writer& w) -> absl::Status {
    Database& db = *w.db;
    absl::StatusOr<Statement> batch = db.Prepare(
        absl::StrCat("SELECT r.rowid, ", kResultColumns,
                     ", r.envelope FROM results r WHERE r.rowid > ?1 ORDER BY r.rowid LIMIT ?2"));
    if (!batch.ok()) return batch.status();
    absl::StatusOr<Statement> update =
        db.Prepare("UPDATE results SET score = ?2, flags = ?3, ranked = (?3 = 0) WHERE id = ?1");
    if (!update.ok()) return update.status();
    absl::StatusOr<Statement> drop_scores =
        db.Prepare("DELETE FROM result_scores WHERE result_id = ?1");
    if (!drop_scores.ok()) return drop_scores.status();
    int64_t after = 0;
    for (;;) {
      Transaction txn(db);
      STORE_RETURN_IF_ERROR(txn.Begin());
      STORE_RETURN_IF_ERROR(batch->BindAll(after, kRescoreBatch));
      std::vector<StoredResult> results;
      STORE_RETURN_IF_ERROR(batch->ForEachRow([&]() -> absl::Status {
        after = batch->ColumnInt64(0);
        StoredResult r = ReadResult(*batch, 1);
        r.envelope = batch->ColumnBytes(1 + kResultColumnCount);
        results.push_back(std::move(r));
        return absl::OkStatus();
      }));
      batch->Reset();
      if (results.empty()) break;
      for (const StoredResult& r : results) {
        absl::StatusOr<Rescored> next = rescore(r);
        if (!next.ok()) {
          return absl::Status(next.status().code(), absl::StrCat("rescoring result ", r.id, ": ",
                                                                 next.status().message()));
        }
        const int64_t kept = r.flags & (kFlagOutlier | kFlagBannedKey);
        const int64_t flags = kept | next->unrankable_flags;
        if ((flags == 0) && !std::any_of(next->scores.begin(), next->scores.end(),
                                         [](const StoredScores& s) { return s.format.empty(); })) {
          return absl::InvalidArgumentError(
              absl::StrCat("rescoring result ", r.id, " gave no scores over every format"));
        }
        {
          absl::Cleanup reset = [&] { update->Reset(); };
          STORE_RETURN_IF_ERROR(update->BindAll(r.id, next->score, flags));
          STORE_RETURN_IF_ERROR(update->Run());
        }
        {
          absl::Cleanup reset = [&] { drop_scores->Reset(); };
          STORE_RETURN_IF_ERROR(drop_scores->BindText(1, r.id));
          STORE_RETURN_IF_ERROR(drop_scores->Run());
        }
        for (const StoredScores& s : next->scores) {
          if (!AllFinite(s)) {
            return absl::InvalidArgumentError(
                absl::StrCat("rescoring result ", r.id, " gave a non-finite score"));
          }
          STORE_RETURN_IF_ERROR(w.InsertScores(r.id, s));
        }
        ++done;
      }
      STORE_RETURN_IF_ERROR(txn.Commit());
    }
    Transaction txn(db);
    STORE_RETURN_IF_ERROR(txn.Begin());
    STORE_RETURN_IF_ERROR(
        db.Execute("UPDATE agents SET ranked_results = (SELECT count(*) FROM results "
                   "WHERE agent_key = agents.public_key AND ranked = 1)"));
    STORE_RETURN_IF_ERROR(w.RebuildAll());
    // Every result now has its scores (schema.cc, version 3).
    STORE_RETURN_IF_ERROR(
        db.Execute("UPDATE store_state SET value = 0 WHERE name = 'unscored_through'"));
    return txn.Commit();
  });
  if (!status.ok()) return status;
  return done;
}

absl::StatusOr<int64_t> ResultStore::CountUnscored() {
  int64_t count = 0;
  STORE_RETURN_IF_ERROR(ReadRows(
      "SELECT count(*) FROM results r WHERE r.rowid <= (SELECT value FROM store_state WHERE "
      "name = 'unscored_through') AND (r.flags & ?1) = 0 AND NOT EXISTS "
      "(SELECT 1 FROM result_scores rs WHERE rs.result_id = r.id AND rs.format = '')",
      [&](const Statement& s) {
        count = s.ColumnInt64(0);
        return absl::OkStatus();
      },
      static_cast<int64_t>(kFlagCustomModel)));
  return count;
}

absl::Status ResultStore::RebuildAggregates() {
  return RunOnWriter([](Writer& w) -> absl::Status {
    Transaction txn(*w.db);
    STORE_RETURN_IF_ERROR(txn.Begin());
    STORE_RETURN_IF_ERROR(w.RebuildAll());
    return txn.Commit();
  });
}

absl::Status ResultStore::ForEachResult(const ResultVisitor& visit) {
  return ReadRows(absl::StrCat("SELECT ", kResultColumns, ", ", kScoresColumns,
                               " FROM results r LEFT JOIN result_scores rs ON rs.result_id = r.id "
                               "AND rs.format = '' ORDER BY r.rowid"),
                  [&](const Statement& s) {
                    StoredResult r = ReadResult(s, 0);
                    if (!s.ColumnIsNull(kResultColumnCount)) {
                      r.scores.push_back(ReadScores(s, kResultColumnCount));
                    }
                    return visit(r);
                  });
}

absl::StatusOr<std::vector<CaseMean>> ResultStore::CaseMeans() {
  std::vector<CaseMean> means;
  STORE_RETURN_IF_ERROR(ReadRows(
      "SELECT r.gpu, r.backend, r.suite, c.case_name, c.metric, avg(c.median), count(*) "
      "FROM results r JOIN cases c ON c.result_id = r.id WHERE (r.flags & ?1) = 0 "
      "GROUP BY r.gpu, r.backend, r.suite, c.case_name, c.metric",
      [&](const Statement& s) {
        means.push_back(CaseMean{s.ColumnBytes(0), s.ColumnBytes(1), s.ColumnBytes(2),
                                 s.ColumnBytes(3), s.ColumnBytes(4), s.ColumnDouble(5),
                                 s.ColumnInt64(6)});
        return absl::OkStatus();
      },
      kFlagOutlier | kFlagBannedKey | kFlagCustomModel));
  return means;
}

absl::Status ResultStore::ForEachCustomResult(const ResultVisitor& visit) {
  return ReadRows(
      absl::StrCat("SELECT ", kResultColumns,
                   ", r.envelope FROM results r WHERE (r.flags & ?1) != 0 AND (r.flags & ?2) = 0 "
                   "ORDER BY r.rowid"),
      [&](const Statement& s) {
        StoredResult r = ReadResult(s, 0);
        r.envelope = s.ColumnBytes(kResultColumnCount);
        return visit(r);
      },
      static_cast<int64_t>(kFlagCustomModel), kFlagOutlier | kFlagBannedKey);
}

absl::Status ResultStore::Backup(const std::string& destination) {
  std::error_code error;
  if (std::filesystem::exists(destination, error)) {
    return absl::AlreadyExistsError(
        absl::StrCat(destination, " exists; back up to a new file name"));
  }
  const std::string partial = destination + ".partial";
  std::filesystem::remove(partial, error);
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  {
    Database::Options options;
    absl::StatusOr<std::unique_ptr<Database>> target = Database::Open(partial, options);
    if (!target.ok()) return target.status();
    // The copy is written in one step from one read snapshot of the source
    // (WAL: writers go on meanwhile).
    sqlite3_backup* backup =
        sqlite3_backup_init((*target)->handle(), "main", reader->db->handle(), "main");
    if (backup == nullptr)
      return (*target)->Error("sqlite3_backup_init", sqlite3_errcode((*target)->handle()));
    const int step = sqlite3_backup_step(backup, -1);
    const int finish = sqlite3_backup_finish(backup);
    if (step != SQLITE_DONE) return (*target)->Error("sqlite3_backup_step", step);
    if (finish != SQLITE_OK) return (*target)->Error("sqlite3_backup_finish", finish);
    // Fold the copy's write-ahead log into its file so the backup is one file.
    STORE_RETURN_IF_ERROR((*target)->Execute("PRAGMA wal_checkpoint(TRUNCATE)"));
    STORE_RETURN_IF_ERROR((*target)->Execute("PRAGMA journal_mode=DELETE"));
  }
  std::filesystem::rename(partial, destination, error);
  if (error) {
    return absl::InternalError(
        absl::StrCat("renaming ", partial, " to ", destination, ": ", error.message()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ResultStore::ResultCount() {
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  Statement& s = reader->max_rowid;
  absl::Cleanup reset = [&s] { s.Reset(); };
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  return s.ColumnInt64(0);
}

int64_t ResultStore::DatabaseBytes() const {
  int64_t total = 0;
  for (const std::string& file : {path_, path_ + "-wal"}) {
    std::error_code error;
    const std::uintmax_t size = std::filesystem::file_size(file, error);
    if (!error) total += static_cast<int64_t>(size);
  }
  return total;
}

absl::Status ResultStore::Ping() {
  absl::StatusOr<std::unique_ptr<Reader>> acquired = AcquireReader();
  if (!acquired.ok()) return acquired.status();
  ReaderLease reader(this, std::move(*acquired));
  Statement& s = reader->ping;
  absl::Cleanup reset = [&s] { s.Reset(); };
  absl::StatusOr<bool> row = s.Step();
  if (!row.ok()) return row.status();
  return absl::OkStatus();
}

}  // namespace aiscore::collector
