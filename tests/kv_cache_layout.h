// A layer's key or value cache moved between the rows-of-positions layout
// ([max_context][n_kv_heads][head_dim], Backend::KvCacheOffset's default)
// and a backend's own, for tests that fill a cache by hand or hand one
// backend's cache to another.
#ifndef AISCORE_TESTS_KV_CACHE_LAYOUT_H_
#define AISCORE_TESTS_KV_CACHE_LAYOUT_H_

#include <algorithm>
#include <cstdint>
#include <vector>

#include "agent/engine/backend.h"

namespace aiscore {

// rows (max_context rows of n_kv_heads * head_dim) in b's layout.
inline std::vector<uint16_t> ToBackendLayout(const std::vector<uint16_t>& rows, const Backend& b,
                                             const AttentionShape& s) {
  std::vector<uint16_t> out(rows.size());
  for (int64_t p = 0; p < s.max_context; ++p) {
    for (int64_t g = 0; g < s.n_kv_heads; ++g) {
      const auto from = rows.begin() + (p * s.n_kv_heads + g) * s.head_dim;
      std::copy(from, from + s.head_dim, out.begin() + b.KvCacheOffset(s, p, g));
    }
  }
  return out;
}

// The inverse: a cache in b's layout as rows of positions.
inline std::vector<uint16_t> FromBackendLayout(const std::vector<uint16_t>& cache, const Backend& b,
                                               const AttentionShape& s) {
  std::vector<uint16_t> out(cache.size());
  for (int64_t p = 0; p < s.max_context; ++p) {
    for (int64_t g = 0; g < s.n_kv_heads; ++g) {
      const auto from = cache.begin() + b.KvCacheOffset(s, p, g);
      std::copy(from, from + s.head_dim, out.begin() + (p * s.n_kv_heads + g) * s.head_dim);
    }
  }
  return out;
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_KV_CACHE_LAYOUT_H_
