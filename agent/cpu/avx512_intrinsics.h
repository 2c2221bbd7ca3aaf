// <immintrin.h> for the AVX-512 kernel files (*_avx512.cc), with GCC 12.2's
// false warnings silenced: it warns that the _mm512_undefined_* placeholders
// inside its own intrinsics are uninitialized (GCC PR 105593, fixed in 12.3
// and 13). The pragmas hold from here to the end of the including file, so
// this must come before any other header that includes <immintrin.h>
// (simd_helpers_x86.h does); clang-format's sorted includes keep it ahead of
// those in every *_avx512.cc file.
#ifndef AISCORE_AGENT_CPU_AVX512_INTRINSICS_H_
#define AISCORE_AGENT_CPU_AVX512_INTRINSICS_H_

#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ == 12
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#endif  // AISCORE_AGENT_CPU_AVX512_INTRINSICS_H_
