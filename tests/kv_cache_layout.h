// A layer's key or value cache moved between layouts: a backend's own
// (Backend::KvCacheOffset) and the rows of positions
// ([max_context][n_kv_heads][head_dim], KvCacheOffset's default), for tests
// that fill a cache by hand or hand one backend's cache to another.
#ifndef AISCORE_TESTS_KV_CACHE_LAYOUT_H_
#define AISCORE_TESTS_KV_CACHE_LAYOUT_H_

#include <algorithm>
#include <cstdint>
#include <functional>
#include <vector>

#include "agent/engine/backend.h"

namespace aiscore {

// Where a layout puts the head_dim halves of (position, KV head).
using KvOffset = std::function<int64_t(int64_t pos, int64_t g)>;

inline KvOffset RowsOfPositions(const AttentionShape& s) {
  return [s](int64_t pos, int64_t g) { return (pos * s.n_kv_heads + g) * s.head_dim; };
}
inline KvOffset LayoutOf(const Backend& b, const AttentionShape& s) {
  return [&b, s](int64_t pos, int64_t g) { return b.KvCacheOffset(s, pos, g); };
}

// `cache`, laid out as `from`, laid out as `to`.
inline std::vector<uint16_t> RelayKvCache(const std::vector<uint16_t>& cache, const KvOffset& from,
                                          const KvOffset& to, const AttentionShape& s) {
  std::vector<uint16_t> out(cache.size());
  for (int64_t p = 0; p < s.max_context; ++p) {
    for (int64_t g = 0; g < s.n_kv_heads; ++g) {
      const auto at = cache.begin() + from(p, g);
      std::copy(at, at + s.head_dim, out.begin() + to(p, g));
    }
  }
  return out;
}

// rows (rows of positions) in b's layout.
inline std::vector<uint16_t> ToBackendLayout(const std::vector<uint16_t>& rows, const Backend& b,
                                             const AttentionShape& s) {
  return RelayKvCache(rows, RowsOfPositions(s), LayoutOf(b, s), s);
}

// A cache of backend `from` in backend `to`'s layout.
inline std::vector<uint16_t> RelayKvCache(const std::vector<uint16_t>& cache, const Backend& from,
                                          const Backend& to, const AttentionShape& s) {
  return RelayKvCache(cache, LayoutOf(from, s), LayoutOf(to, s), s);
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_KV_CACHE_LAYOUT_H_
