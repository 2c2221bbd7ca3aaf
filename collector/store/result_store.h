// ResultStore: the collector's durable store of submitted results, on one
// SQLite file in WAL mode (see schema.cc for the tables).
//
// Writes: one writer thread owns the only writing connection. Insert() queues a
// request and blocks until the writer has committed the transaction holding it;
// the writer drains whatever is queued and commits it as one transaction (group
// commit: one fsync for many submissions). Each request runs inside its own
// SAVEPOINT, so a bad request fails alone while the rest of its group commits.
// An Insert that returned OK is durable (synchronous=FULL). Operator actions
// (SetBanned, Rescore, RebuildAggregates) run on the same writer thread, one
// at a time between groups.
//
// Duplicates: the nonce is UNIQUE. Inserting a nonce already stored (even by a
// concurrent Insert in the same group) stores nothing and returns the id of the
// first result stored with it.
//
// Ids: a result without one gets the next of a time-ordered sequence, so new
// results, their scores and their cases land at the ends of their indexes
// (few pages written per commit) rather than at random places.
//
// Ranking: a result is ranked when its flags are 0 (ResultFlag: no outlier,
// banned key, custom model or unrankable suite). A ranked result joins, in the
// same transaction as its insert, one aggregate group per entry of its scores
// (format "" and each format): (suite, format, gpu, backend). A group keeps its
// count, best score (ties: the smallest result id), the 25th, 50th and 75th
// percentiles of the score and, on the every-format board only, the median of
// each sub-score and of capacity (a format's groups leave those at 0), all
// exact: percentiles interpolate linearly between closest ranks (position
// q * (n - 1) in sorted order; numpy's default), kept current by quantile
// cursors that move at most one index step per insert
// (collector/store/quantile_cursor.h). Leaderboard() reads group rows only: it
// never touches results, whatever their number. Banning a key, rescoring and
// RebuildAggregates recompute the groups concerned from the stored scores.
//
// Reads: each reader call takes a connection of its own from a small pool (opened
// read-only on first need, reused after) and reads one consistent snapshot.
//
// Thread-safety: every public method may be called from any thread at once. The
// destructor finishes queued writes, then stops the writer; no call may be in
// progress or start once it runs.
#ifndef AISCORE_COLLECTOR_STORE_RESULT_STORE_H_
#define AISCORE_COLLECTOR_STORE_RESULT_STORE_H_

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "collector/store/sqlite_db.h"

namespace aiscore::collector {

// One metric of one case of a result.
struct StoredCase {
  std::string case_name;
  std::string metric;
  double median = 0;  // the metric's median over repetitions, in the metric's unit
};

// Why a stored result is not ranked: bits of StoredResult::flags.
enum ResultFlag : int64_t {
  kFlagOutlier = 1 << 0,         // > 3 robust standard deviations from its GPU's median
  kFlagBannedKey = 1 << 1,       // its key was banned by the operator
  kFlagCustomModel = 1 << 2,     // a person's own GGUF: stored for calibration only (schema.cc
                                 // version 3 spells out this bit)
  kFlagUnrankableSuite = 1 << 3  // a suite that is not a leaderboard basket ("quick")
};

// The readable names of `flags`' bits, in bit order: "outlier:score",
// "banned-key", "custom-model", "unrankable-suite"; unknown bits as "bit-N".
std::vector<std::string> FlagNames(int64_t flags);

// The five sub-scores and the capacity of a result, or their medians over a group.
struct SubScoreValues {
  double prefill = 0;  // dimensionless, as scoring/score.h defines them
  double decode = 0;
  double latency = 0;
  double long_context = 0;
  double speculative = 0;
  double capacity = 0;  // fraction of cases that ran, [0, 1]
};

// A result's score over every format (format "") or over one format's cases.
struct StoredScores {
  std::string format;  // "" or a format of the suite ("q4_k")
  double score = 0;    // AI System Score, finite and >= 0
  SubScoreValues sub;
};

// A verified submission as the store keeps it. All byte strings are stored
// verbatim (NUL bytes and invalid UTF-8 included).
struct StoredResult {
  // Unique, at most 256 bytes. Empty: the store assigns one (16 lower-case
  // hex digits growing with time), returned in InsertOutcome.
  std::string id;
  std::string nonce;         // raw nonce bytes from the RunResult; unique
  std::string public_key;    // the agent's Ed25519 public key bytes
  std::string suite;         // suite name
  std::string suite_sha256;  // hex digest of the suite definition
  int64_t received_us = 0;   // collector's clock, microseconds since the Unix epoch
  std::string gpu;           // canonical GPU name (or "CPU: " + CPU model)
  std::string backend;       // e.g. "cuda", "cpu"
  double score = 0;          // AI System Score over every format (0 for custom models)
  std::string status;        // "accepted" or "accepted_flagged"
  int64_t flags = 0;         // ResultFlag bits; ranked exactly when 0
  std::string envelope;      // the signed envelope bytes exactly as received
  std::vector<StoredCase> cases;
  // Ranked results: the "" entry and one per format of the suite. Scores are
  // kept for every result that has them, ranked or not.
  std::vector<StoredScores> scores;

  bool ranked() const { return flags == 0; }
};

struct InsertOutcome {
  bool inserted = false;  // false: the nonce was already stored
  std::string id;         // the stored id: this result's, or the first one's for a duplicate
};

// One leaderboard row: a (gpu, backend) group of a suite's ranked results,
// scored over every format or over one.
struct LeaderboardRow {
  std::string gpu;
  std::string backend;
  int64_t count = 0;
  double median = 0;
  double p25 = 0;
  double p75 = 0;
  double best = 0;
  std::string best_result_id;  // the result with `best` (smallest id among equals)
  SubScoreValues median_sub;   // median of each sub-score and of capacity
};

// The mean of one metric of one case over a device's results, for calibration.
struct CaseMean {
  std::string gpu;
  std::string backend;
  std::string suite;
  std::string case_name;
  std::string metric;
  double mean = 0;  // mean of the stored medians, in the metric's unit
  int64_t results = 0;
};

// The median of one metric of one case over a group's latest ranked results.
struct CaseMedian {
  std::string case_name;
  std::string metric;
  double median = 0;    // median of the stored medians, in the metric's unit
  int64_t results = 0;  // results that have this case and metric
};

// A result as the operator's export lists it: everything but the envelope and cases.
using ResultVisitor = std::function<absl::Status(const StoredResult& result)>;

// How Rescore changes a result: its new scores and its new unrankable bits
// (kFlagCustomModel, kFlagUnrankableSuite); the outlier and banned bits stay.
struct Rescored {
  double score = 0;
  int64_t unrankable_flags = 0;
  std::vector<StoredScores> scores;
};
// Rescores one stored result (envelope included, cases not); an error stops
// the rescore, keeping what was committed before.
using RescoreFn = std::function<absl::StatusOr<Rescored>(const StoredResult& result)>;

class ResultStore {
 public:
  // Opens (creating if needed) and migrates the file at `path`, and starts the
  // writer thread. Not ":memory:": readers need to open the same file.
  static absl::StatusOr<std::unique_ptr<ResultStore>> Open(const std::string& path);
  ~ResultStore();
  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  // Stores `result` and returns once its transaction committed.
  // InvalidArgument for a result the store cannot keep (no nonce, an id over
  // 256 bytes, a non-finite score, a ranked result without its "" scores).
  absl::StatusOr<InsertOutcome> Insert(const StoredResult& result);

  // The result stored under `id`, cases in insertion order and scores by
  // format. NotFound if none.
  absl::StatusOr<StoredResult> GetById(std::string_view id);

  // The suite's groups scored over `format` ("" : every format), by median
  // score, highest first (ties: gpu, then backend).
  absl::StatusOr<std::vector<LeaderboardRow>> Leaderboard(std::string_view suite,
                                                          std::string_view format = "");

  // One group, or nullopt when it holds no ranked result.
  absl::StatusOr<std::optional<LeaderboardRow>> Group(std::string_view suite,
                                                      std::string_view format, std::string_view gpu,
                                                      std::string_view backend);

  // The scores over `format` of a group's ranked results, ascending, read
  // from the group's own index (one pass over that group, never over all
  // results). Empty when the group holds no ranked result.
  absl::StatusOr<std::vector<double>> GroupScores(std::string_view suite, std::string_view format,
                                                  std::string_view gpu, std::string_view backend);

  // The latest `limit` results of (suite, gpu, backend), ranked or not,
  // newest first (ties: larger id first), without envelope, cases and scores.
  absl::StatusOr<std::vector<StoredResult>> RecentResults(std::string_view suite,
                                                          std::string_view gpu,
                                                          std::string_view backend, int limit);

  // The median of each (case, metric) over the latest `max_results` ranked
  // results of (suite, gpu, backend), in (case, metric) order. Reads at most
  // that many results' cases, so it is bounded however large the group is.
  absl::StatusOr<std::vector<CaseMedian>> GroupCaseMedians(std::string_view suite,
                                                           std::string_view gpu,
                                                           std::string_view backend,
                                                           int max_results);

  // Every agent key the store knows (submitted or banned), in no order.
  absl::StatusOr<std::vector<std::string>> AgentKeys();

  // Whether the operator banned `public_key`.
  absl::StatusOr<bool> IsBanned(std::string_view public_key);

  // Bans (or lifts the ban on) a key, known or not: its results gain (or lose)
  // kFlagBannedKey and leave (or rejoin) the leaderboard. Returns how many
  // stored results the key has.
  absl::StatusOr<int64_t> SetBanned(std::string_view public_key, bool banned);

  // Recomputes every result's scores with `rescore` (in batches, each committed),
  // then rebuilds every aggregate. Returns the number of results rescored.
  absl::StatusOr<int64_t> Rescore(const RescoreFn& rescore);

  // The number of results that have no scores ("" entry) though they are not
  // custom models: results stored before schema version 2 and not rescored
  // since. Reads only the rows up to the last such result (schema version 3):
  // constant time on a file that needs no rescore, so start-up can ask.
  absl::StatusOr<int64_t> CountUnscored();

  // Recomputes every aggregate group from the stored scores.
  absl::Status RebuildAggregates();

  // Calls `visit` for every result in order of arrival, without envelope and
  // cases, with its scores; stops at the first error and returns it.
  absl::Status ForEachResult(const ResultVisitor& visit);

  // The mean of every (device, backend, suite, case, metric) over the results
  // that are neither outliers, nor of banned keys, nor of custom models (whose
  // shapes only their envelopes hold). Reads every case row: meant for a
  // periodic refresh, not for each request.
  absl::StatusOr<std::vector<CaseMean>> CaseMeans();

  // Calls `visit` for every result of a custom model that is neither an
  // outlier nor of a banned key, envelope included, cases not.
  absl::Status ForEachCustomResult(const ResultVisitor& visit);

  // Writes a consistent copy of the database to `destination` while the store
  // stays in use (SQLite's online backup), through a temporary file renamed
  // into place. AlreadyExists when `destination` exists.
  absl::Status Backup(const std::string& destination);

  // Results stored (never deleted: the largest row id), cheap at any size.
  absl::StatusOr<int64_t> ResultCount();
  // Bytes of the database file and its write-ahead log.
  int64_t DatabaseBytes() const;
  // OK when a reader can query the database.
  absl::Status Ping();

 private:
  struct WriteRequest;
  struct Writer;
  struct Reader;
  class ReaderLease;

  ResultStore(std::string path, std::unique_ptr<Writer> writer);
  void WriterLoop();
  void CommitGroup(std::vector<WriteRequest*>& group);
  absl::StatusOr<InsertOutcome> InsertOne(const StoredResult& result);
  // Runs the query `sql` on a pooled reader in one snapshot, `values` bound
  // to its parameters, and calls on_row(statement) for each row.
  template <typename OnRow, typename... Values>
  absl::Status ReadRows(std::string_view sql, OnRow on_row, const Values&... values);
  // Runs `job` on the writer thread, alone, and returns its status.
  absl::Status RunOnWriter(std::function<absl::Status(Writer&)> job);
  absl::StatusOr<std::unique_ptr<Reader>> AcquireReader();
  void ReleaseReader(std::unique_ptr<Reader> reader);

  const std::string path_;

  // The writer's connection and statements: used by the writer thread only.
  std::unique_ptr<Writer> writer_;

  std::mutex queue_mu_;
  std::condition_variable queue_cv_;
  std::deque<WriteRequest*> queue_;  // guarded by queue_mu_; requests live in Insert's frame
  bool stopping_ = false;            // guarded by queue_mu_

  std::mutex readers_mu_;
  std::vector<std::unique_ptr<Reader>> idle_readers_;  // guarded by readers_mu_

  std::thread writer_thread_;  // last: started once everything above exists
};

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_STORE_RESULT_STORE_H_
