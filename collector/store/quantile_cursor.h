// QuantileCursor: an exact running quantile of a growing multiset held in an
// ordered index, updated in O(1) index steps per insertion.
//
// The multiset's entries are ordered by (value, id), a total order, so every
// entry has a rank (0-based). A cursor tracking the q-quantile sits on the
// entry of rank floor(q * (n - 1)) and remembers the entry after it; the
// quantile is the first's value, interpolated linearly towards the second by
// the fraction of q * (n - 1) (numpy's default, type 7 of Hyndman and Fan, as
// scoring/statistics.h's Quantile). When an entry is inserted the cursor's
// rank grows by one if the entry sorts before it, and the target rank grows
// by at most one, so the cursor moves at most one step, which costs at most
// one index read: the store keeps the leaderboard's percentiles exact
// without ever reading a whole group.
//
// The store supplies the index walk as a StepFn; tests supply a sorted vector.
// Cursors persist as one BLOB per group (EncodeCursors / DecodeCursors:
// per cursor, rank as int64, then its entry and the next (a byte 0 when there
// is none, else 1), each entry as the 8 bytes of a double, id length as
// uint16 and the id bytes; little-endian).
//
// Pure functions; thread-safe.
#ifndef AISCORE_COLLECTOR_STORE_QUANTILE_CURSOR_H_
#define AISCORE_COLLECTOR_STORE_QUANTILE_CURSOR_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aiscore::collector {

// One entry of the ordered multiset.
struct OrderedEntry {
  double value = 0;  // finite
  std::string id;    // unique within the multiset; breaks ties between equal values
};

// Orders by value, then id (byte-wise, as SQLite's BINARY collation).
bool operator<(const OrderedEntry& a, const OrderedEntry& b);

struct QuantileCursor {
  int64_t rank = 0;       // of `at` in the multiset, 0-based
  OrderedEntry at;        // the entry the cursor sits on
  bool has_next = false;  // whether an entry follows `at`
  OrderedEntry next;      // that entry, when has_next
};

// The entry right after (forward) or right before `from` in the multiset;
// an error when there is none (the cursor never asks past the ends).
using StepFn = std::function<absl::StatusOr<OrderedEntry>(const OrderedEntry& from, bool forward)>;

// The rank the q-quantile's cursor sits on in a multiset of n >= 1 entries.
int64_t TargetRank(double q, int64_t n);

// Moves a q-quantile cursor after `inserted` was added, the multiset now
// holding n entries. n == 1: the cursor sits on `inserted`. Otherwise the
// cursor must have been valid for n - 1 entries.
absl::Status AdvanceCursor(double q, int64_t n, const OrderedEntry& inserted, const StepFn& step,
                           QuantileCursor* cursor);

// The q-quantile of n >= 1 entries from its cursor (which sits on rank
// TargetRank(q, n)): the cursor's value, interpolated towards the next entry.
// Internal when the cursor is not where it should be.
absl::StatusOr<double> CursorQuantile(double q, int64_t n, const QuantileCursor& cursor);

std::string EncodeCursors(std::span<const QuantileCursor> cursors);
// DataLoss when `bytes` is not `count` encoded cursors.
absl::StatusOr<std::vector<QuantileCursor>> DecodeCursors(std::string_view bytes, size_t count);

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_STORE_QUANTILE_CURSOR_H_
