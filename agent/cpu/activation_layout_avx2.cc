// AVX2 activation converters (compiled with -mavx2 -mfma -mf16c): the same
// bytes as the portable ones in activation_layout.cc, faster.
#include <immintrin.h>

#include <cstdint>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {

// Q8_K activations with AVX2, byte for byte as QuantizeRowQ8_K: d = amax /
// 127, q = clamp(round(x * (127 / amax)), -127, 127) with round half to even
// (vcvtps2dq under the default MXCSR, as lrintf), bsums over groups of 16.
void ConvertActivationsQ8_KAvx2(const float* x, int64_t cols, void* out) {
  auto* blocks = static_cast<BlockQ8_K*>(out);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < cols / kSuperBlockSize; ++b, x += kSuperBlockSize) {
    __m256 m = _mm256_setzero_ps();
    for (int i = 0; i < kSuperBlockSize; i += 8) {
      m = _mm256_max_ps(m, _mm256_and_ps(_mm256_loadu_ps(x + i), abs_mask));
    }
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const __m256 inv = _mm256_set1_ps(amax > 0 ? 127.0f / amax : 0.0f);
    BlockQ8_K& block = blocks[b];
    block.d = amax / 127.0f;
    const __m256i ones8 = _mm256_set1_epi8(1);
    for (int i = 0; i < kSuperBlockSize; i += 32) {
      __m256i q[4];
      for (int k = 0; k < 4; ++k) {
        q[k] = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + i + 8 * k), inv));
      }
      // Packing interleaves 128-bit lanes; the permute restores element order.
      const __m256i q16 =
          _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
      __m256i q8 = _mm256_permutevar8x32_epi32(q16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      q8 = _mm256_max_epi8(q8, _mm256_set1_epi8(-127));
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(block.qs + i), q8);
      // Sums of 4, then of 16: lanes 0 and 4 hold the sums of the two groups.
      __m256i sums = DotU8S8(_mm256_setzero_si256(), ones8, q8);
      sums = _mm256_hadd_epi32(sums, sums);
      sums = _mm256_hadd_epi32(sums, sums);
      block.bsums[i / 16] = static_cast<int16_t>(_mm256_extract_epi32(sums, 0));
      block.bsums[i / 16 + 1] = static_cast<int16_t>(_mm256_extract_epi32(sums, 4));
    }
  }
}

}  // namespace aiscore
