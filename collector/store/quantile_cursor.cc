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
    *cursor = QuantileCursor{0, inserted};
    return absl::OkStatus();
  }
  if (inserted < cursor->at) ++cursor->rank;
  const int64_t target = TargetRank(q, n);
  while (cursor->rank != target) {
    const bool forward = cursor->rank < target;
    absl::StatusOr<OrderedEntry> next = step(cursor->at, forward);
    if (!next.ok()) return next.status();
    cursor->at = *std::move(next);
    cursor->rank += forward ? 1 : -1;
  }
  return absl::OkStatus();
}

absl::StatusOr<double> CursorQuantile(double q, int64_t n, const QuantileCursor& cursor,
                                      const StepFn& step) {
  const double position = q * static_cast<double>(n - 1);
  const double fraction = position - static_cast<double>(cursor.rank);
  if (cursor.rank != TargetRank(q, n)) {
    return absl::InternalError(absl::StrCat("quantile cursor at rank ", cursor.rank, " for q ", q,
                                            " of ", n, " entries"));
  }
  if (fraction == 0) return cursor.at.value;
  absl::StatusOr<OrderedEntry> next = step(cursor.at, /*forward=*/true);
  if (!next.ok()) return next.status();
  return cursor.at.value + (next->value - cursor.at.value) * fraction;
}

std::string EncodeCursors(std::span<const QuantileCursor> cursors) {
  std::string out;
  for (const QuantileCursor& c : cursors) {
    PutUint(&out, static_cast<uint64_t>(c.rank), 8);
    PutUint(&out, std::bit_cast<uint64_t>(c.at.value), 8);
    PutUint(&out, c.at.id.size(), 2);
    out += c.at.id;
  }
  return out;
}

absl::StatusOr<std::vector<QuantileCursor>> DecodeCursors(std::string_view bytes, size_t count) {
  std::vector<QuantileCursor> cursors(count);
  for (size_t i = 0; i < count; ++i) {
    uint64_t rank = 0, value = 0, length = 0;
    if (!GetUint(&bytes, 8, &rank) || !GetUint(&bytes, 8, &value) ||
        !GetUint(&bytes, 2, &length) || bytes.size() < length) {
      return absl::DataLossError(absl::StrCat("quantile cursor ", i, " of ", count, " is cut short"));
    }
    cursors[i].rank = static_cast<int64_t>(rank);
    cursors[i].at.value = std::bit_cast<double>(value);
    cursors[i].at.id = std::string(bytes.substr(0, length));
    bytes.remove_prefix(length);
    if (cursors[i].rank < 0 || !std::isfinite(cursors[i].at.value)) {
      return absl::DataLossError(absl::StrCat("quantile cursor ", i, " holds an invalid entry"));
    }
  }
  if (!bytes.empty()) {
    return absl::DataLossError(
        absl::StrCat(bytes.size(), " bytes after the last of ", count, " quantile cursors"));
  }
  return cursors;
}

}  // namespace aiscore::collector
