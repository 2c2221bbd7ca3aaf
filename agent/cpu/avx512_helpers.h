// Small helpers that the AVX-512 K-quant kernel files share (16 weight rows,
// one per 32-bit lane). Include only from files compiled with AVX-512 flags
// (*_avx512.cc), after avx512_intrinsics.h.
//
// Everything here has internal linkage, as in simd_helpers_x86.h: each kernel
// file gets its own copy, compiled with its own ISA flags.
#ifndef AISCORE_AGENT_CPU_AVX512_HELPERS_H_
#define AISCORE_AGENT_CPU_AVX512_HELPERS_H_

#include <cstddef>
#include <cstdint>

#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/simd_helpers_x86.h"

namespace aiscore {
namespace {  // NOLINT(build/namespaces): see simd_helpers_x86.h.

constexpr int kLaneRows = 16;  // weight rows per tile, one per 32-bit lane

// vpdpbusd of w and the 4 bytes at p broadcast, accumulated into acc, with
// the broadcast embedded in the instruction ({1to16}). GCC 12 does not fold
// _mm512_set1_epi32 of a load into vpdpbusd, and the separate vpbroadcastd
// it emits instead cost Q2_K decode about 10% on Zen 4.
inline __m512i DotBroadcast(__m512i acc, __m512i w, const unsigned char* p) {
  asm("vpdpbusd %2%{1to16%}, %1, %0"
      : "+v"(acc)
      : "v"(w), "m"(*reinterpret_cast<const int32_t*>(p)));
  return acc;
}

inline __m512i Broadcast32(const unsigned char* p) { return _mm512_set1_epi32(Load32(p)); }

// The 16 f16 values at p (a panel's scales, one per row) as f32.
inline __m512 LoadF16x16(const void* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(static_cast<const __m256i*>(p)));
}

// Adds i32 lanes. The empty asm keeps the compiler from reassociating a chain
// of these into "all terms first, then a tree of adds", which spills.
inline __m512i AddI32(__m512i a, __m512i b) {
  __m512i sum = _mm512_add_epi32(a, b);
  asm("" : "+v"(sum));
  return sum;
}

// Transposes 16 vectors of 16 dwords: afterwards v[k] holds element k of each
// input, input i in lane i.
inline void Transpose16x16(__m512i v[16]) {
  __m512i t[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(v[i], v[i + 1]);
  }
  for (int i = 0; i < 16; i += 4) {
    v[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
    v[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
    v[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
    v[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
  }
  // Now v[4b + k], 128-bit lane L, holds element 4L + k of inputs 4b..4b+3.
  for (int k = 0; k < 4; ++k) {
    const __m512i x0 = _mm512_shuffle_i32x4(v[k], v[4 + k], 0x44);
    const __m512i x1 = _mm512_shuffle_i32x4(v[k], v[4 + k], 0xee);
    const __m512i y0 = _mm512_shuffle_i32x4(v[8 + k], v[12 + k], 0x44);
    const __m512i y1 = _mm512_shuffle_i32x4(v[8 + k], v[12 + k], 0xee);
    t[k] = _mm512_shuffle_i32x4(x0, y0, 0x88);
    t[4 + k] = _mm512_shuffle_i32x4(x0, y0, 0xdd);
    t[8 + k] = _mm512_shuffle_i32x4(x1, y1, 0x88);
    t[12 + k] = _mm512_shuffle_i32x4(x1, y1, 0xdd);
  }
  for (int i = 0; i < 16; ++i) v[i] = t[i];
}

// Loads the 64 bytes at byte `offset` of each row transposed: v[k] holds
// dword k of each row.
inline void Load16x16(const unsigned char* const rows[kLaneRows], size_t offset, __m512i v[16]) {
  for (int r = 0; r < kLaneRows; ++r) v[r] = _mm512_loadu_si512(rows[r] + offset);
  Transpose16x16(v);
}

// Loads the 16 bytes at byte `offset` of each row transposed: v[k] holds
// dword k of them. z[g] holds rows g, 4 + g, 8 + g and 12 + g in its 128-bit
// lanes, so that an in-lane 4 x 4 transpose leaves row r in lane r.
inline void LoadTransposed4(const unsigned char* const rows[kLaneRows], size_t offset,
                            __m512i v[4]) {
  __m512i z[4];
  for (int g = 0; g < 4; ++g) {
    z[g] = _mm512_castsi128_si512(Load128(rows[g] + offset));
    // The lane must be an immediate: spelled out rather than looped, so that
    // builds that do not unroll loops (-O0, -O1 as in scripts/sanitize.sh) compile.
    z[g] = _mm512_inserti32x4(z[g], Load128(rows[4 + g] + offset), 1);
    z[g] = _mm512_inserti32x4(z[g], Load128(rows[8 + g] + offset), 2);
    z[g] = _mm512_inserti32x4(z[g], Load128(rows[12 + g] + offset), 3);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]);
  const __m512i t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]);
  const __m512i t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  v[0] = _mm512_unpacklo_epi64(t0, t2);
  v[1] = _mm512_unpackhi_epi64(t0, t2);
  v[2] = _mm512_unpacklo_epi64(t1, t3);
  v[3] = _mm512_unpackhi_epi64(t1, t3);
}

// vpshufb pattern that applies the byte selection `pattern` (byte i of the
// pattern: the source byte of the dword for byte i, or 0x80 for zero) to
// every dword. vpshufb indexes bytes within each 128-bit lane, so dword d's
// indices are offset by 4d; zeroing bytes stay >= 0x80 after adding <= 12.
inline __m512i DwordPattern(uint32_t pattern) {
  const __m512i dword_offsets = _mm512_set_epi32(
      0x0c0c0c0c, 0x08080808, 0x04040404, 0, 0x0c0c0c0c, 0x08080808, 0x04040404, 0, 0x0c0c0c0c,
      0x08080808, 0x04040404, 0, 0x0c0c0c0c, 0x08080808, 0x04040404, 0);
  return _mm512_add_epi8(_mm512_set1_epi32(static_cast<int32_t>(pattern)), dword_offsets);
}

// Byte b0 of each dword zero-extended into the low i16 and byte b1 (or zero,
// for b1 = 0x80) into the high i16.
inline __m512i BytePattern(int b0, int b1) {
  const uint32_t hi = b1 == 0x80 ? 0x8080u : (0x8000u | static_cast<uint32_t>(b1));
  return DwordPattern(0x8000u | static_cast<uint32_t>(b0) | hi << 16);
}

// Byte b of each dword in the top byte, zeros below: an arithmetic shift
// right by 24 then sign-extends it to i32.
inline __m512i TopBytePattern(int b) {
  return DwordPattern(0x00808080u | static_cast<uint32_t>(b) << 24);
}

// Bytes b0 and b1 of each dword in the high bytes of the two i16 halves: an
// arithmetic shift right by 8 then sign-extends them to i16.
inline __m512i HighBytePattern(int b0, int b1) {
  return DwordPattern(0x00800080u | static_cast<uint32_t>(b0) << 8 |
                      static_cast<uint32_t>(b1) << 24);
}

}  // namespace
}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_AVX512_HELPERS_H_
