// Q8_0 weights x Q8_0 activations on AVX2, and a vectorized activation
// quantizer that writes the same bytes as the portable one.
//
// Per 32-weight block and (weight row, activation row) pair: the sign trick
// turns the int8 x int8 product into u8 x s8 (|w| times a with w's sign,
// right for w = -128 too; activations are within +-127), vpmaddubsw sums
// pairs into int16 (at most 2 * 128 * 127, no saturation),
// vpmaddwd sums those into 8 int32 lanes, and one FMA adds them, scaled by
// d_w * d_a, to the pair's float accumulator; the pair scales of 8 blocks
// come from one multiply and are broadcast from memory, which costs no ALU.
//
// Prefill: micro-tiles of kMicroRows x kMicroCols pairs, all accumulators in
// ymm registers; a kernel tile is three micro-tiles stacked. Decode (one
// activation row) reads the kTileRows rows of a tile side by side, and each
// block step prefetches its share of the next tile's rows (PrefetchShare):
// 2 threads, 14336 x 4096, 14.0-17.2 GB/s without, 27.2-28.7 with (Zen 4).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kMicroRows = 4;
constexpr int kMicroCols = 2;
constexpr int kTileRows = 3 * kMicroRows;
constexpr int kTileCols = kMicroCols;

inline __m256i LoadQuants(const BlockQ8_0& block) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs));
}

// Same arithmetic as QuantizeRowQ8_0: d = f16(amax / 127), q = clamp(round(x
// / d), -127, 127) with round half to even (vcvtps2dq under the default MXCSR).
void ConvertActivations(const float* x, int64_t cols, void* out) {
  auto* blocks = static_cast<BlockQ8_0*>(out);
  const __m256 abs_mask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (int64_t b = 0; b < cols / kQ8_0BlockSize; ++b, x += kQ8_0BlockSize) {
    __m256 v[4];
    for (int i = 0; i < 4; ++i) v[i] = _mm256_loadu_ps(x + 8 * i);
    const __m256 m =
        _mm256_max_ps(_mm256_max_ps(_mm256_and_ps(v[0], abs_mask), _mm256_and_ps(v[1], abs_mask)),
                      _mm256_max_ps(_mm256_and_ps(v[2], abs_mask), _mm256_and_ps(v[3], abs_mask)));
    __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
    m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
    const float amax = _mm_cvtss_f32(m4);
    const uint16_t d_bits = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const float d = _cvtsh_ss(d_bits);
    blocks[b].d = d_bits;
    if (!(d > 0)) {
      std::memset(blocks[b].qs, 0, sizeof(blocks[b].qs));
      continue;
    }
    const __m256 vd = _mm256_set1_ps(d);
    __m256i q[4];
    for (int i = 0; i < 4; ++i) q[i] = _mm256_cvtps_epi32(_mm256_div_ps(v[i], vd));
    // Packing interleaves 128-bit lanes; the permute restores element order.
    const __m256i q16 =
        _mm256_packs_epi16(_mm256_packs_epi32(q[0], q[1]), _mm256_packs_epi32(q[2], q[3]));
    __m256i q8 = _mm256_permutevar8x32_epi32(q16, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    q8 = _mm256_max_epi8(q8, _mm256_set1_epi8(-127));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(blocks[b].qs), q8);
  }
}

// The f16 scales of blocks b0 .. b0 + m - 1 of a row (m <= 8) as floats,
// zero past m. Built in general registers, which the vector units do not need.
template <int M>
inline __m256 BlockScales(const BlockQ8_0* row, int64_t b0, int m) {
  uint64_t bits[2] = {0, 0};
  for (int i = 0; i < (M > 0 ? M : m); ++i) {
    bits[i / 4] |= uint64_t{row[b0 + i].d} << (16 * (i % 4));
  }
  return _mm256_cvtph_ps(
      _mm_set_epi64x(static_cast<int64_t>(bits[1]), static_cast<int64_t>(bits[0])));
}

// Blocks per group whose pair scales d_w * d_a are formed together, 8 per
// vector multiply, before the dot products read them back one by one.
constexpr int kScaleGroup = 8;

// out[c * out_stride + r] = dot(weight row r, activation row c) for r < RM, c < RN.
// (The unroll pragmas keep GCC from leaving the accumulators in memory.)
template <int RM, int RN>
void MicroTile(int64_t cols, const unsigned char* w, size_t w_stride, const unsigned char* a,
               size_t a_stride, float* out, size_t out_stride) {
  const BlockQ8_0* wr[RM];
  const BlockQ8_0* ac[RN];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) wr[r] = reinterpret_cast<const BlockQ8_0*>(w + r * w_stride);
#pragma GCC unroll 16
  for (int c = 0; c < RN; ++c) ac[c] = reinterpret_cast<const BlockQ8_0*>(a + c * a_stride);
  __m256 acc[RM][RN];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  const __m256i ones = _mm256_set1_epi16(1);
  const int64_t nb = cols / kQ8_0BlockSize;
  alignas(32) float scale[RM][RN][kScaleGroup];  // d_w * d_a of each pair, block b0 + i
  const uintptr_t next = reinterpret_cast<uintptr_t>(w) + RM * w_stride;
  for (int64_t b = 0; b < nb; ++b) {
    if constexpr (RN == 1) PrefetchShare(next, RM * w_stride, b, nb);
    const int i = static_cast<int>(b % kScaleGroup);
    if (i == 0) {
      const bool full = b + kScaleGroup <= nb;
      const int m = full ? kScaleGroup : static_cast<int>(nb - b);
      __m256 a_scale[RN];
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) {
        a_scale[c] = full ? BlockScales<kScaleGroup>(ac[c], b, m) : BlockScales<0>(ac[c], b, m);
      }
#pragma GCC unroll 16
      for (int r = 0; r < RM; ++r) {
        const __m256 w_scale =
            full ? BlockScales<kScaleGroup>(wr[r], b, m) : BlockScales<0>(wr[r], b, m);
#pragma GCC unroll 16
        for (int c = 0; c < RN; ++c) {
          _mm256_store_ps(scale[r][c], _mm256_mul_ps(w_scale, a_scale[c]));
        }
      }
    }
    __m256i av[RN];
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) av[c] = LoadQuants(ac[c][b]);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
      const __m256i wv = LoadQuants(wr[r][b]);
      const __m256i w_abs = _mm256_sign_epi8(wv, wv);  // -128 becomes 128 as u8
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) {
        const __m256i pairs = _mm256_maddubs_epi16(w_abs, _mm256_sign_epi8(av[c], wv));
        const __m256 dot = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
        acc[r][c] = _mm256_fmadd_ps(dot, _mm256_broadcast_ss(&scale[r][c][i]), acc[r][c]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) out[c * out_stride + r] = HorizontalSum(acc[r][c]);
  }
}

using MicroTileFn = void (*)(int64_t, const unsigned char*, size_t, const unsigned char*, size_t,
                             float*, size_t);

// Entry (nr - 1) * kMicroCols + (nc - 1) handles an nr x nc micro-tile.
template <size_t... I>
constexpr std::array<MicroTileFn, sizeof...(I)> MakeMicroTiles(std::index_sequence<I...>) {
  return {&MicroTile<I / kMicroCols + 1, I % kMicroCols + 1>...};
}
constexpr auto kMicroTiles = MakeMicroTiles(std::make_index_sequence<kMicroRows * kMicroCols>());

// Entry nr - 1 handles nr rows of decode (one activation row).
template <size_t... I>
constexpr std::array<MicroTileFn, sizeof...(I)> MakeDecodeTiles(std::index_sequence<I...>) {
  return {&MicroTile<I + 1, 1>...};
}
constexpr auto kDecodeTiles = MakeDecodeTiles(std::make_index_sequence<kTileRows>());

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  if (nc == 1) {
    kDecodeTiles[nr - 1](cols, wb, w_stride, ab, a_stride, out, out_stride);
    return;
  }
  for (int r0 = 0; r0 < nr; r0 += kMicroRows) {
    const int mr = std::min(kMicroRows, nr - r0);
    kMicroTiles[(mr - 1) * kMicroCols + (nc - 1)](cols, wb + r0 * w_stride, w_stride, ab, a_stride,
                                                  out + r0, out_stride);
  }
}

}  // namespace

extern const MatMulKernel kQ8_0Avx2Kernel = {
    Format::kQ8_0, Isa::kAvx2, ConvertActivations, ActivationRowBytesQ8_0,
    Tile,          kTileRows,  kTileCols};

}  // namespace aiscore
