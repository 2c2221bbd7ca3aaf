// ResultStore: the collector's durable store of submitted results, on one
// SQLite file in WAL mode (see schema.h for the tables).
//
// Writes: one writer thread owns the only writing connection. Insert() queues a
// request and blocks until the writer has committed the transaction holding it;
// the writer drains whatever is queued and commits it as one transaction (group
// commit: one fsync for many submissions). Each request runs inside its own
// SAVEPOINT, so a bad request fails alone while the rest of its group commits.
// An Insert that returned OK is durable (synchronous=FULL).
//
// Duplicates: the nonce is UNIQUE. Inserting a nonce already stored (even by a
// concurrent Insert in the same group) stores nothing and returns the id of the
// first result stored with it.
//
// Aggregates: a ranked result also updates, in the same transaction, its
// (suite, gpu, backend) group in gpu_aggregates (count, best score) and adds its
// score to aggregate_scores, an index ordered by (group, score). Leaderboard()
// reads a group's count and best from its row and each percentile with an
// indexed LIMIT 2 OFFSET k over that group's scores: it never reads the results
// table. SQLite's OFFSET steps over k index entries, so a percentile costs
// O(group size) reads of one covering index (no sort, no results scan); if
// groups grow past ~10^5 results, cache the percentiles in gpu_aggregates.
// Percentiles interpolate linearly between closest ranks (position
// q * (n - 1) in the sorted scores; numpy's default): with n = 1 every
// percentile is the one score; groups with n = 0 do not exist. Higher scores are
// better, so best is the maximum.
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
#include <memory>
#include <mutex>
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

// A verified submission as the store keeps it. All byte strings are stored
// verbatim (NUL bytes and invalid UTF-8 included).
struct StoredResult {
  std::string id;            // collector-assigned, unique
  std::string nonce;         // raw nonce bytes from the RunResult; unique
  std::string public_key;    // the agent's Ed25519 public key bytes
  std::string suite;         // suite name
  std::string suite_sha256;  // hex digest of the suite definition
  int64_t received_us = 0;   // collector's clock, microseconds since the Unix epoch
  std::string gpu;           // canonical GPU name
  std::string backend;       // e.g. "cuda", "cpu"
  double score = 0;          // AI System Score; must be finite when ranked
  std::string status;        // e.g. "accepted", "implausible"
  int64_t flags = 0;         // bit set of reasons (outlier, ...), defined by the collector
  bool ranked = false;       // counts toward the leaderboard aggregates
  std::string envelope;      // the signed envelope bytes exactly as received
  std::vector<StoredCase> cases;
};

struct InsertOutcome {
  bool inserted = false;  // false: the nonce was already stored
  std::string id;         // the stored id: this result's, or the first one's for a duplicate
};

// One leaderboard row: a (gpu, backend) group of a suite's ranked results.
struct LeaderboardRow {
  std::string gpu;
  std::string backend;
  int64_t count = 0;
  double median = 0;
  double p25 = 0;
  double p75 = 0;
  double best = 0;
};

class ResultStore {
 public:
  // Opens (creating if needed) and migrates the file at `path`, and starts the
  // writer thread. Not ":memory:": readers need to open the same file.
  static absl::StatusOr<std::unique_ptr<ResultStore>> Open(const std::string& path);
  ~ResultStore();
  ResultStore(const ResultStore&) = delete;
  ResultStore& operator=(const ResultStore&) = delete;

  // Stores `result` and returns once its transaction committed.
  absl::StatusOr<InsertOutcome> Insert(const StoredResult& result);

  // The result stored under `id`, cases in insertion order. NotFound if none.
  absl::StatusOr<StoredResult> GetById(std::string_view id);

  // The suite's groups, by median score, highest first.
  absl::StatusOr<std::vector<LeaderboardRow>> Leaderboard(std::string_view suite);

 private:
  struct WriteRequest;
  struct Writer;
  struct Reader;
  class ReaderLease;

  ResultStore(std::string path, std::unique_ptr<Writer> writer);
  void WriterLoop();
  void CommitGroup(std::vector<WriteRequest*>& group);
  absl::StatusOr<InsertOutcome> InsertOne(const StoredResult& result);
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
