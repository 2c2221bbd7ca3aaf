#include "collector/store/quantile_cursor.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

namespace aiscore::collector {
namespace {

void PutUint(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

bool GetUint(std::string_view* in, int bytes, uint64_t* v) {
  if (in->size() < static_cast<size_t>(bytes)) return false;
  *v = 0;
  for (int i = 0; i < bytes; ++i) {
    *v |= static_cast<uint64_t>(static_cast<unsigned char>((*in)[i])) << (8 * i);
  }
  in->remove_prefix(bytes);
  return true;
}

}  // namespace

bool operator<(const OrderedEntry& a, const OrderedEntry& b) {
  if (a.value != b.value) return a.value < b.value;
  return a.id < b.id;  // char_traits<char> compares as unsigned char: byte-wise
}

int64_t TargetRank(double q, int64_t n) {
  return static_cast<int64_t>(std::floor(q * static_cast<double>(n - 1)));
}

absl::Status AdvanceCursor(double q, int64_t n, const OrderedEntry& inserted, const StepFn& step,
                           QuantileCursor* cursor) {
  if (n < 1) return absl::InternalError(absl::StrCat("a quantile of ", n, " entries"));
  if (n == 1) {
    *cursor = QuantileCursor{0, inserted, false, {}};
    return absl::OkStatus();
  }
  if (inserted < cursor->at) {
    ++cursor->rank;
  } else if (!cursor->has_next || inserted < cursor->next) {
    cursor->next = inserted;
    cursor->has_next = true;
  }
  const int64_t target = TargetRank(q, n);
  while (cursor->rank < target) {
    if (!cursor->has_next) {
      return absl::InternalError(absl::StrCat("quantile cursor at rank ", cursor->rank,
                                              " has no next entry but must reach ", target));
    }
    cursor->at = std::move(cursor->next);
    ++cursor->rank;
    absl::StatusOr<OrderedEntry> next = step(cursor->at, /*forward=*/true);
    cursor->has_next = next.ok();
    cursor->next = next.ok() ? *std::move(next) : OrderedEntry{};
  }
  while (cursor->rank > target) {
    absl::StatusOr<OrderedEntry> previous = step(cursor->at, /*forward=*/false);
    if (!previous.ok()) return previous.status();
    cursor->next = std::move(cursor->at);
    cursor->has_next = true;
    cursor->at = *std::move(previous);
    --cursor->rank;
  }
  return absl::OkStatus();
}

absl::StatusOr<double> CursorQuantile(double q, int64_t n, const QuantileCursor& cursor) {
  const double position = q * static_cast<double>(n - 1);
  const double fraction = position - static_cast<double>(cursor.rank);
  if (cursor.rank != TargetRank(q, n) || (fraction > 0 && !cursor.has_next)) {
    return absl::InternalError(absl::StrCat("quantile cursor at rank ", cursor.rank, " for q ", q,
                                            " of ", n, " entries"));
  }
  if (fraction == 0) return cursor.at.value;
  return cursor.at.value + (cursor.next.value - cursor.at.value) * fraction;
}

namespace {

void PutEntry(std::string* out, const OrderedEntry& e) {
  PutUint(out, std::bit_cast<uint64_t>(e.value), 8);
  PutUint(out, e.id.size(), 2);
  *out += e.id;
}

bool GetEntry(std::string_view* in, OrderedEntry* e) {
  uint64_t value = 0, length = 0;
  if (!GetUint(in, 8, &value) || !GetUint(in, 2, &length) || in->size() < length) return false;
  e->value = std::bit_cast<double>(value);
  e->id = std::string(in->substr(0, length));
  in->remove_prefix(length);
  return std::isfinite(e->value);
}

}  // namespace

std::string EncodeCursors(std::span<const QuantileCursor> cursors) {
  std::string out;
  for (const QuantileCursor& c : cursors) {
    PutUint(&out, static_cast<uint64_t>(c.rank), 8);
    PutEntry(&out, c.at);
    PutUint(&out, c.has_next ? 1 : 0, 1);
    if (c.has_next) PutEntry(&out, c.next);
  }
  return out;
}

absl::StatusOr<std::vector<QuantileCursor>> DecodeCursors(std::string_view bytes, size_t count) {
  std::vector<QuantileCursor> cursors(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t rank = 0, has_next = 0;
    QuantileCursor& c = cursors[i];
    if (!GetUint(&bytes, 8, &rank) || !GetEntry(&bytes, &c.at) || !GetUint(&bytes, 1, &has_next) ||
        has_next > 1 || (has_next == 1 && !GetEntry(&bytes, &c.next))) {
      return absl::DataLossError(
          absl::StrCat("quantile cursor ", i, " of ", count, " is cut short or invalid"));
    }
    c.rank = static_cast<int64_t>(rank);
    c.has_next = has_next == 1;
    if (c.rank < 0) return absl::DataLossError(absl::StrCat("quantile cursor ", i, " has a negative rank"));
  }
  if (!bytes.empty()) {
    return absl::DataLossError(
        absl::StrCat(bytes.size(), " bytes after the last of ", count, " quantile cursors"));
  }
  return cursors;
}

}  // namespace aiscore::collector
