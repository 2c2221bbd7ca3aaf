// AVX2 loads for the bandwidth probe (compiled with -mavx2).
#include <immintrin.h>

#include "agent/cpu/read_bandwidth.h"
#include "agent/cpu/simd_helpers_x86.h"

namespace aiscore {
namespace {

template <bool Prefetch>
uint64_t Sum(const unsigned char* p, size_t n) {
  __m256i s[8];
  for (__m256i& v : s) v = _mm256_setzero_si256();
  for (size_t i = 0; i < n; i += 256) {
    if constexpr (Prefetch) PrefetchAhead(p + i, 256);
    const auto* q = reinterpret_cast<const __m256i*>(p + i);
    for (int j = 0; j < 8; ++j) s[j] = _mm256_add_epi64(s[j], _mm256_loadu_si256(q + j));
  }
  for (int j = 1; j < 8; ++j) s[0] = _mm256_add_epi64(s[0], s[j]);
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s[0]);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

}  // namespace

uint64_t SumForBandwidthAvx2(const unsigned char* p, size_t n, bool prefetch) {
  return prefetch ? Sum<true>(p, n) : Sum<false>(p, n);
}

}  // namespace aiscore
