// AVX2 + F16C vector primitives (compiled with -mavx2 -mfma -mf16c).
#include <immintrin.h>

#include <algorithm>
#include <cmath>

#include "agent/cpu/simd_helpers_x86.h"
#include "agent/cpu/vec_kernels.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

// Up to four query heads per pass: each key row is converted once and
// multiplied into every head's accumulator.
void AttentionScores(const float* q, int64_t heads, int64_t hd, const uint16_t* k, int64_t k_stride,
                     int64_t len, float scale, float* scores) {
  const int64_t body = hd / 8 * 8;
  for (int64_t h0 = 0; h0 < heads; h0 += 4) {
    const int64_t nh = std::min<int64_t>(4, heads - h0);
    const float* qh = q + h0 * hd;
    for (int64_t p = 0; p < len; ++p) {
      const uint16_t* kp = k + p * k_stride;
      __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(),
                       _mm256_setzero_ps()};
      for (int64_t e = 0; e < body; e += 8) {
        const __m256 kv =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kp + e)));
        for (int64_t h = 0; h < nh; ++h) {
          acc[h] = _mm256_fmadd_ps(_mm256_loadu_ps(qh + h * hd + e), kv, acc[h]);
        }
      }
      for (int64_t h = 0; h < nh; ++h) {
        float sum = HorizontalSum(acc[h]);
        for (int64_t e = body; e < hd; ++e) sum += qh[h * hd + e] * Fp16ToFp32(kp[e]);
        scores[(h0 + h) * len + p] = sum * scale;
      }
    }
  }
}

// 16 output columns of up to four heads in registers while every value row
// passes; each row chunk is converted once for all heads.
void AttentionValues(const float* probs, int64_t heads, int64_t len, const uint16_t* v,
                     int64_t v_stride, int64_t hd, float* out) {
  const int64_t body = hd / 16 * 16;
  for (int64_t h0 = 0; h0 < heads; h0 += 4) {
    const int64_t nh = std::min<int64_t>(4, heads - h0);
    const float* ph = probs + h0 * len;
    float* oh = out + h0 * hd;
    for (int64_t e = 0; e < body; e += 16) {
      __m256 acc[4][2];
      for (auto& a : acc) a[0] = a[1] = _mm256_setzero_ps();
      for (int64_t p = 0; p < len; ++p) {
        const uint16_t* vp = v + p * v_stride + e;
        const __m256 v0 = _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vp)));
        const __m256 v1 =
            _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(vp + 8)));
        for (int64_t h = 0; h < nh; ++h) {
          const __m256 w = _mm256_broadcast_ss(ph + h * len + p);
          acc[h][0] = _mm256_fmadd_ps(w, v0, acc[h][0]);
          acc[h][1] = _mm256_fmadd_ps(w, v1, acc[h][1]);
        }
      }
      for (int64_t h = 0; h < nh; ++h) {
        _mm256_storeu_ps(oh + h * hd + e, acc[h][0]);
        _mm256_storeu_ps(oh + h * hd + e + 8, acc[h][1]);
      }
    }
    for (int64_t e = body; e < hd; ++e) {  // Columns past the last 16.
      for (int64_t h = 0; h < nh; ++h) {
        float sum = 0.0f;
        for (int64_t p = 0; p < len; ++p) sum += ph[h * len + p] * Fp16ToFp32(v[p * v_stride + e]);
        oh[h * hd + e] = sum;
      }
    }
  }
}

void F32ToF16(const float* x, uint16_t* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(y + i), h);
  }
  for (; i < n; ++i) y[i] = Fp32ToFp16(x[i]);
}

// exp(x) for x in [-87.3, 88.7] (clamped outside): x = n ln2 + r with
// |r| <= ln2/2, exp(r) by its degree-7 Taylor polynomial (truncation error
// below 1e-8 there, so float rounding dominates), and 2^n by adding n to the
// exponent bits.
__m256 Exp(__m256 x) {
  x = _mm256_max_ps(_mm256_min_ps(x, _mm256_set1_ps(88.7f)), _mm256_set1_ps(-87.3f));
  const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                   _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  // r = x - n ln2, with ln2 split in two so that n * ln2_hi is exact.
  __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
  r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
  __m256 p = _mm256_set1_ps(1.0f / 5040);
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 720));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
  const __m256i e = _mm256_slli_epi32(_mm256_cvtps_epi32(n), 23);
  return _mm256_castsi256_ps(_mm256_add_epi32(_mm256_castps_si256(p), e));
}

float ExpSum(float* x, int64_t n, float shift) {
  const __m256 vs = _mm256_set1_ps(shift);
  __m256 acc = _mm256_setzero_ps();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 e = Exp(_mm256_sub_ps(_mm256_loadu_ps(x + i), vs));
    _mm256_storeu_ps(x + i, e);
    acc = _mm256_add_ps(acc, e);
  }
  float sum = HorizontalSum(acc);
  for (; i < n; ++i) sum += (x[i] = std::exp(x[i] - shift));
  return sum;
}

void SiluMul(const float* gate, const float* up, float* out, int64_t n) {
  const __m256 one = _mm256_set1_ps(1.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 g = _mm256_loadu_ps(gate + i);
    const __m256 e = Exp(_mm256_sub_ps(_mm256_setzero_ps(), g));
    _mm256_storeu_ps(
        out + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(one, e)), _mm256_loadu_ps(up + i)));
  }
  for (; i < n; ++i) out[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

}  // namespace

extern const VecKernels kAvx2VecKernels = {Isa::kAvx2, AttentionScores, AttentionValues,
                                           F32ToF16,   ExpSum,          SiluMul};

}  // namespace aiscore
