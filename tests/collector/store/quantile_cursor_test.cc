// collector/store/quantile_cursor: running quantiles against a brute-force
// sort after every insertion (ties, ascending, descending and random orders),
// and the cursor encoding's round trip and refusal of damaged bytes.
#include "collector/store/quantile_cursor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace aiscore::collector {
namespace {

// The multiset as a sorted set of entries; steps walk it.
class SortedEntries {
 public:
  void Insert(const OrderedEntry& e) { entries_.insert(e); }
  StepFn Stepper() {
    return [this](const OrderedEntry& from, bool forward) -> absl::StatusOr<OrderedEntry> {
      ++steps_;
      auto it = entries_.find(from);
      if (it == entries_.end()) return absl::InternalError("cursor entry not in the set");
      if (forward) {
        ++it;
        if (it == entries_.end()) return absl::OutOfRangeError("past the end");
        return *it;
      }
      if (it == entries_.begin()) return absl::OutOfRangeError("before the start");
      return *--it;
    };
  }
  std::vector<double> Values() const {
    std::vector<double> v;
    for (const OrderedEntry& e : entries_) v.push_back(e.value);
    return v;
  }
  int64_t steps() const { return steps_; }

 private:
  struct Less {
    bool operator()(const OrderedEntry& a, const OrderedEntry& b) const { return a < b; }
  };
  std::set<OrderedEntry, Less> entries_;
  int64_t steps_ = 0;
};

// numpy's default (linear) quantile of sorted values, in long double.
double Reference(const std::vector<double>& sorted, double q) {
  const long double position = static_cast<long double>(q) * (sorted.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(position));
  const long double fraction = position - lo;
  if (fraction == 0) return sorted[lo];
  return static_cast<double>(sorted[lo] + (static_cast<long double>(sorted[lo + 1]) - sorted[lo]) * fraction);
}

void CheckSequence(const std::vector<double>& values) {
  for (double q : {0.0, 0.1, 0.25, 0.5, 0.75, 0.9, 1.0}) {
    SCOPED_TRACE(absl::StrCat("q ", q));
    SortedEntries set;
    QuantileCursor cursor;
    for (size_t i = 0; i < values.size(); ++i) {
      const OrderedEntry e{values[i], absl::StrCat("id", 1000 + (i * 7919) % 9973, "-", i)};
      set.Insert(e);
      const int64_t n = static_cast<int64_t>(i) + 1;
      const int64_t steps_before = set.steps();
      ASSERT_TRUE(AdvanceCursor(q, n, e, set.Stepper(), &cursor).ok());
      EXPECT_LE(set.steps() - steps_before, 1) << "a cursor moves at most one step per insert";
      EXPECT_EQ(cursor.rank, TargetRank(q, n));
      absl::StatusOr<double> got = CursorQuantile(q, n, cursor);
      ASSERT_TRUE(got.ok()) << got.status();
      EXPECT_NEAR(*got, Reference(set.Values(), q), 1e-9 * std::abs(*got)) << "after " << n;
    }
  }
}

TEST(QuantileCursorTest, MatchesASortAfterEveryInsert) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> uniform(-1000, 1000);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> values(200);
    for (double& v : values) v = trial % 2 ? std::round(uniform(rng) / 100) : uniform(rng);  // ties
    CheckSequence(values);
  }
}

TEST(QuantileCursorTest, AscendingDescendingAndConstantInputs) {
  std::vector<double> up(150), down(150), same(150, 3.5);
  for (int i = 0; i < 150; ++i) up[i] = i, down[i] = 150 - i;
  CheckSequence(up);
  CheckSequence(down);
  CheckSequence(same);
}

TEST(QuantileCursorTest, CursorsRoundTripThroughTheirEncoding) {
  std::vector<QuantileCursor> cursors = {
      {0, {1.5, "a"}, false, {}},
      {123456789012, {-0.0, std::string("\0\xff", 2)}, true, {2.5, "b"}},
      {7, {1e300, std::string(300, 'x')}, true, {1e301, ""}}};
  const std::string bytes = EncodeCursors(cursors);
  absl::StatusOr<std::vector<QuantileCursor>> back = DecodeCursors(bytes, 3);
  ASSERT_TRUE(back.ok()) << back.status();
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*back)[i].rank, cursors[i].rank);
    EXPECT_EQ((*back)[i].at.value, cursors[i].at.value);
    EXPECT_EQ((*back)[i].at.id, cursors[i].at.id);
    EXPECT_EQ((*back)[i].has_next, cursors[i].has_next);
    EXPECT_EQ((*back)[i].next.value, cursors[i].next.value);
    EXPECT_EQ((*back)[i].next.id, cursors[i].next.id);
  }
  EXPECT_EQ(DecodeCursors(bytes, 4).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeCursors(bytes, 2).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeCursors(bytes.substr(0, bytes.size() - 1), 3).status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(DecodeCursors("", 1).status().code(), absl::StatusCode::kDataLoss);
  std::vector<QuantileCursor> nan = {{0, {std::nan(""), "a"}, false, {}}};
  EXPECT_EQ(DecodeCursors(EncodeCursors(nan), 1).status().code(), absl::StatusCode::kDataLoss);
  EXPECT_TRUE(DecodeCursors("", 0).ok());
}

}  // namespace
}  // namespace aiscore::collector
