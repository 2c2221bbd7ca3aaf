// Small helpers that the AVX2 and AVX-512 kernel files share. Include only
// from files compiled with AVX2 flags or more (*_avx2.cc, *_avx512.cc).
//
// Everything here has internal linkage (an unnamed namespace, on purpose in a
// header): each kernel file gets its own copy compiled with its own ISA
// flags, so the linker can never give an AVX2 path a copy that was built with
// AVX-512 instructions, as it could with ordinary inline functions.
#ifndef AISCORE_AGENT_CPU_SIMD_HELPERS_X86_H_
#define AISCORE_AGENT_CPU_SIMD_HELPERS_X86_H_

#include <immintrin.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>
#include <utility>

#include "agent/cpu/cpu_features.h"

namespace aiscore {
namespace {  // NOLINT(build/namespaces): see above.

inline int32_t Load32(const void* p) {
  int32_t v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// The sum of the eight lanes.
inline float HorizontalSum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_movehdup_ps(s));
  return _mm_cvtss_f32(s);
}

// The f16 scales (member d) of blocks b0, b0 + stride, ..., the first m
// (m <= 8), of a row of Q8_0 blocks as floats, zero past m; M is m where it
// is known when compiling (0 where not). Built in general registers, which
// the vector units do not need.
template <int M, class Block>
inline __m256 Q8_0Scales(const Block* row, int64_t b0, int m, int stride = 1) {
  uint64_t bits[2] = {0, 0};
  for (int i = 0; i < (M > 0 ? M : m); ++i) {
    bits[i / 4] |= uint64_t{row[b0 + i * stride].d} << (16 * (i % 4));
  }
  return _mm256_cvtph_ps(
      _mm_set_epi64x(static_cast<int64_t>(bits[1]), static_cast<int64_t>(bits[0])));
}

inline __m128i Load128(const unsigned char* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}
inline __m256i Load256(const unsigned char* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}
// The 8 f16 values at p (a panel half's scales, one per row) as f32.
inline __m256 LoadF16x8(const void* p) {
  return _mm256_cvtph_ps(_mm_loadu_si128(static_cast<const __m128i*>(p)));
}
// The dword at p in every lane.
inline __m256i Broadcast32x8(const unsigned char* p) { return _mm256_set1_epi32(Load32(p)); }

// Adds i16 (i32) lanes. The empty asm keeps the compiler from reassociating a
// chain of these into "all terms first, then a tree of adds", which spills.
// (vpaddsw would also block it, but issues on fewer ports than vpaddw.)
inline __m256i AddI16(__m256i a, __m256i b) {
  __m256i sum = _mm256_add_epi16(a, b);
  asm("" : "+x"(sum));
  return sum;
}
inline __m256i AddI32(__m256i a, __m256i b) {
  __m256i sum = _mm256_add_epi32(a, b);
  asm("" : "+x"(sum));
  return sum;
}

// The path of the AVX2 kernel file being compiled. The files listed in
// AISCORE_AVXVNNI_SOURCES (agent/cpu/CMakeLists.txt) are built twice: for
// AVX2, and again with -mavxvnni for Isa::kAvxVnni, where their integer dot
// products take vpdpbusd. Each defines its kernel under the name of the
// path it is built for: AISCORE_AVX2_KERNEL(Q8_0) is kQ8_0Avx2Kernel, or
// kQ8_0AvxVnniKernel in the AVX-VNNI build.
#ifdef __AVXVNNI__
inline constexpr Isa kAvx2FileIsa = Isa::kAvxVnni;
#define AISCORE_AVX2_KERNEL(format) k##format##AvxVnniKernel
#else
inline constexpr Isa kAvx2FileIsa = Isa::kAvx2;
#define AISCORE_AVX2_KERNEL(format) k##format##Avx2Kernel
#endif

// acc + the u8 x s8 products of u and s, the four of each dword summed into
// its i32 lane: one vpdpbusd with AVX-VNNI; on AVX2 vpmaddubsw, vpmaddwd
// and an add, exact where each adjacent pair's sum fits an i16 (vpmaddubsw
// saturates), as the callers' ranges ensure.
inline __m256i DotU8S8(__m256i acc, __m256i u, __m256i s) {
#ifdef __AVXVNNI__
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

// acc + the i16 x i16 products of a and b, each adjacent pair summed into its
// i32 lane: one vpdpwssd with AVX-VNNI; on AVX2 vpmaddwd and an add.
inline __m256i DotI16(__m256i acc, __m256i a, __m256i b) {
#ifdef __AVXVNNI__
  return _mm256_dpwssd_avx_epi32(acc, a, b);
#else
  return AddI32(acc, _mm256_madd_epi16(a, b));
#endif
}

// Transposes 8 vectors of 8 dwords: afterwards v[k] holds element k of each
// input, input i in lane i.
inline void Transpose8x8(__m256i v[8]) {
  __m256i t[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm256_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    v[i] = _mm256_unpacklo_epi64(t[i], t[i + 2]);
    v[i + 1] = _mm256_unpackhi_epi64(t[i], t[i + 2]);
    v[i + 2] = _mm256_unpacklo_epi64(t[i + 1], t[i + 3]);
    v[i + 3] = _mm256_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // Now v[4b + k], 128-bit lane L, holds element 4L + k of inputs 4b..4b+3.
  for (int k = 0; k < 4; ++k) {
    t[k] = _mm256_permute2x128_si256(v[k], v[4 + k], 0x20);
    t[4 + k] = _mm256_permute2x128_si256(v[k], v[4 + k], 0x31);
  }
  for (int i = 0; i < 8; ++i) v[i] = t[i];
}

// Loads the 32 bytes at byte `offset` of rows[0..7] transposed: v[k] holds
// dword k of each row.
inline void Load8x8(const unsigned char* const rows[8], size_t offset, __m256i v[8]) {
  for (int r = 0; r < 8; ++r) v[r] = Load256(rows[r] + offset);
  Transpose8x8(v);
}

// Loads the 16 bytes at byte `offset` of rows[0..7] transposed: v[k] holds
// dword k of them. z[g] holds rows g and 4 + g in its 128-bit lanes, so that
// an in-lane 4 x 4 transpose leaves row r in lane r.
inline void LoadTransposed4(const unsigned char* const rows[8], size_t offset, __m256i v[4]) {
  __m256i z[4];
  for (int g = 0; g < 4; ++g) {
    z[g] = _mm256_inserti128_si256(_mm256_castsi128_si256(Load128(rows[g] + offset)),
                                   Load128(rows[4 + g] + offset), 1);
  }
  const __m256i t0 = _mm256_unpacklo_epi32(z[0], z[1]);
  const __m256i t1 = _mm256_unpackhi_epi32(z[0], z[1]);
  const __m256i t2 = _mm256_unpacklo_epi32(z[2], z[3]);
  const __m256i t3 = _mm256_unpackhi_epi32(z[2], z[3]);
  v[0] = _mm256_unpacklo_epi64(t0, t2);
  v[1] = _mm256_unpackhi_epi64(t0, t2);
  v[2] = _mm256_unpacklo_epi64(t1, t3);
  v[3] = _mm256_unpackhi_epi64(t1, t3);
}

// Prefetches the `bytes` at `base` spread over `steps` steps of a loop that
// computes on data already in cache: Step(i) prefetches share i
// (ceil(bytes / steps) bytes), a line at a time, with hint kHint. So memory
// stays busy while the loop computes, without bursts of prefetches that
// would fill the miss queues at once. The addresses may lie past the data
// (an integer base): prefetches do not fault.
template <enum _mm_hint kHint>
class PrefetchSpread {
 public:
  PrefetchSpread(uintptr_t base, size_t bytes, int64_t steps)
      : base_(base), share_(steps > 0 ? (bytes + steps - 1) / steps : 0) {}
  PrefetchSpread(const void* base, size_t bytes, int64_t steps)
      : PrefetchSpread(reinterpret_cast<uintptr_t>(base), bytes, steps) {}
  void Step(int64_t i) const {
    for (size_t o = i * share_; o < (i + 1) * share_; o += 64) {
      _mm_prefetch(reinterpret_cast<const char*>(base_ + o), kHint);
    }
  }

 private:
  uintptr_t base_;
  size_t share_;  // bytes per step
};

// Decode attention's prefetch of its next phase (a block's values during its
// scores, the next block's keys during its values), into L1 and L2: 16 KiB
// a phase per KV head, used within microseconds. Against T1 (L2 only),
// alternated call by call in one process on the same caches (Zen 5, target-7b
// heads, 2 threads, median time): AVX-512 at 513 positions 44.9 -> 41.9 us
// (-7%, -7% and -3% in three rounds), at 2049 -3%, at 8193 -2%; one thread
// -7%; AVX2 at 513 -6.5%. The non-temporal hint took 1-1.7% less time than
// T0 on Zen 5, but read less than T0 in Zen 4's probe loop
// (docs/performance.md).
using AttentionPrefetch = PrefetchSpread<_MM_HINT_T0>;

// Prefetches into L2 the share of block b (of `blocks`) of the `bytes` at
// address `next`: called once per block of a decode tile, it pulls in the
// next tile's rows (usually this thread's next call) while this one
// computes. The hardware prefetchers do poorly on a dozen or more rows read
// side by side, and decode would otherwise wait on memory. `next` may lie
// past the weights (the last tile): prefetches do not fault.
inline void PrefetchShare(uintptr_t next, size_t bytes, int64_t b, int64_t blocks) {
  PrefetchSpread<_MM_HINT_T1>(next, bytes, blocks).Step(b);
}

// How far ahead decode kernels that read their weights as one stream (the
// panel layouts, Q8_0 rows one after another) prefetch. Zen 5, 2 threads,
// 4096 x 14336 and 14336 x 4096 from DRAM, GiB/s, same minutes: Q4_K panels
// 40-45 with the next panel prefetched a panel ahead (PrefetchShare), 40-47
// with none, 52-59 at 8 KiB; Q2_K 50-56, 47-52, 57-63; F16 and Q8_0 alike.
// 2, 4, 16 and 32 KiB ahead read no more than 8. A/B in one process (Q2_K,
// 28672 x 4096, time against 8 KiB): host fast, 4 KiB 1.044, 6 KiB 1.015,
// 12 KiB 1.032, 16 KiB 1.130; host slow, 6 KiB 0.975, 10 KiB 1.032
// (docs/performance.md, "A/B in one process").
constexpr size_t kStreamPrefetchAhead = 8192;

// Prefetches the `bytes` that lie kStreamPrefetchAhead past p, a line at a
// time, where kStreamPrefetch: called with each block of the stream as it
// is read. The addresses may lie past the weights: prefetches do not fault.
// With the non-temporal hint, as the lines are read once, soon after (Zen 5,
// the same benches, alternated, against _MM_HINT_T1: F16 panels 67.8 -> 72.5
// GiB/s, Q4_K 63.3 -> 68.0, Q2_K 62.5 -> 66.4 with the host fast; 2-8% more
// with it slow; T0 in between). How the prefetches are paced matters, and
// differs by kernel (A/B in one process, docs/performance.md, "Q2_K decode:
// the touch only without the stream prefetch"): a Q2_K block's 42 lines as a
// loop, one per iteration, take 22-23% less time than unrolled back to back
// or interleaved with the block's work; Q8_0's 17 lines a pair of blocks,
// which GCC unrolls, 2-3% less than as a loop. On Zen 4 every hint read less
// than the hardware prefetchers alone (docs/performance.md, "Zen 4 again").
//
// Always inlined: GCC 12 split the prefetch loop out of the early return
// into a function of its own, found that function free of side effects
// (prefetches count as none) and deleted its calls, so that the Q2_K and
// Q8_0 kernels prefetched nothing (docs/performance.md, "Zen 5 again").
// tests/cpu/check_prefetch.cmake checks the kernels' object code.
[[gnu::always_inline]] inline void PrefetchAhead(const void* p, size_t bytes) {
  if (!kStreamPrefetch) return;
  const uintptr_t start = reinterpret_cast<uintptr_t>(p) + kStreamPrefetchAhead;
  for (size_t i = 0; i < bytes; i += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(start + i), _MM_HINT_NTA);
  }
}

template <typename F, int... kI>
void WithCountIn(int64_t n, F& f, std::integer_sequence<int, kI...>) {
  (void)((n == kI + 1 && (f(std::integral_constant<int, kI + 1>{}), true)) || ...);
}

// Calls f(std::integral_constant<int, n>{}) for n in [1, kMax] (n outside
// it calls nothing), so that loops over n unroll and their accumulators stay
// in registers: over a GQA group's query heads, or a tile's tokens.
template <int kMax, typename F>
void WithCount(int64_t n, F&& f) {
  WithCountIn(n, f, std::make_integer_sequence<int, kMax>{});
}

// Calls f(std::integral_constant<int, k>{}, c) over the nc tokens of a
// prefill tile: k = kBlock at c = 0, kBlock, 2 kBlock, ..., then once for
// the k < kBlock tokens left at c. Each kernel's panel block takes k tokens'
// accumulators in registers.
template <int kBlock, typename F>
void ForTokenBlocks(int nc, F&& f) {
  int c = 0;
  for (; c + kBlock <= nc; c += kBlock) f(std::integral_constant<int, kBlock>{}, c);
  WithCount<kBlock - 1>(nc - c, [&](auto k) { f(k, c); });
}

// Prefetches into L2 rows [0, count) of `bytes` each, `stride` bytes apart:
// attention's next keys or values, rows of one KV head spread out by the
// others', which the hardware prefetchers do not follow.
inline void PrefetchRows(const void* base, size_t stride, int64_t count, size_t bytes) {
  const auto* p = static_cast<const char*>(base);
  for (int64_t j = 0; j < count; ++j) {
    for (size_t i = 0; i < bytes; i += 64) _mm_prefetch(p + j * stride + i, _MM_HINT_T1);
  }
}

// For flash-style prefill attention: prefetches share [j0, j0 + tile) of
// the `next` key and value rows from row `first` (hd halves each, kv_stride
// halves apart), the next pass's, from the score tile at j0 of this pass.
inline void PrefetchPassShare(const uint16_t* k, const uint16_t* v, int64_t kv_stride, int64_t hd,
                              int64_t first, int64_t next, int64_t j0, int64_t tile) {
  if (j0 >= next) return;
  const int64_t at = (first + j0) * kv_stride, count = std::min(tile, next - j0);
  PrefetchRows(k + at, 2 * kv_stride, count, 2 * hd);
  PrefetchRows(v + at, 2 * kv_stride, count, 2 * hd);
}

}  // namespace
}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_SIMD_HELPERS_X86_H_
