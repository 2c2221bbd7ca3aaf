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
// activation row) reads a tile's rows one after another, as one stream (the
// rows of a matrix lie end to end), each row a dot product of its own: the
// integer sums of 8 blocks gathered into one vector's lanes and scaled by
// one FMA, prefetching kStreamPrefetchAhead on where kStreamPrefetch. It
// used to read the 12 rows of a tile side by side, 12 streams, each block
// prefetching its share of the next tile (Zen 4, 2 threads, 14336 x 4096:
// 27.2-28.7 GB/s), which on Zen 5 read 78% of the probe end to end
// (docs/performance.md, "The AVX2 kernels on this machine").
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
  for (int64_t b = 0; b < nb; ++b) {
    const int i = static_cast<int>(b % kScaleGroup);
    if (i == 0) {
      const bool full = b + kScaleGroup <= nb;
      const int m = full ? kScaleGroup : static_cast<int>(nb - b);
      __m256 a_scale[RN];
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) {
        a_scale[c] = full ? Q8_0Scales<kScaleGroup>(ac[c], b, m) : Q8_0Scales<0>(ac[c], b, m);
      }
#pragma GCC unroll 16
      for (int r = 0; r < RM; ++r) {
        const __m256 w_scale =
            full ? Q8_0Scales<kScaleGroup>(wr[r], b, m) : Q8_0Scales<0>(wr[r], b, m);
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

// Decode reads rows in chunks of this many blocks (all of a row up to 65536
// columns), whose activation scales it converts to floats once for all the
// tile's rows (8 KiB).
constexpr int64_t kDecodeChunk = 2048;

// Decode: the dot product of one weight row with the activation row a over
// blocks b0 .. b0 + m - 1, a_scale[i] the float scale of a's block b0 + i
// (zero past m, to the next multiple of kScaleGroup). The integer sums of
// kScaleGroup blocks are gathered into one vector's lanes and scaled
// together by their pair scales d_w * d_a. (Sums in another order than
// MicroTile's, so a token's last bits differ between decode and prefill, as
// on AVX-512.)
float DecodeRow(const BlockQ8_0* row, const BlockQ8_0* a, const float* a_scale, int64_t b0,
                int64_t m) {
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t i0 = 0; i0 < m; i0 += kScaleGroup) {
    const int64_t b = b0 + i0;
    const bool full = i0 + kScaleGroup <= m;
    const int n = full ? kScaleGroup : static_cast<int>(m - i0);
    PrefetchAhead(row + b, kScaleGroup * sizeof(BlockQ8_0));
    __m256i dot[kScaleGroup];
#pragma GCC unroll 8
    for (int i = 0; i < kScaleGroup; ++i) {
      dot[i] = _mm256_setzero_si256();
      if (!full && i >= n) continue;
      const __m256i w = LoadQuants(row[b + i]);
      const __m256i pairs =
          _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(LoadQuants(a[b + i]), w));
      dot[i] = _mm256_madd_epi16(pairs, ones);
    }
    const __m256 w_scale = full ? Q8_0Scales<kScaleGroup>(row, b, n) : Q8_0Scales<0>(row, b, n);
    const __m256 pair_scale = _mm256_mul_ps(w_scale, _mm256_load_ps(a_scale + i0));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(LaneSums(dot)), pair_scale, acc);
  }
  return HorizontalSum(acc);
}

// Decode of nr rows from w: row after row, one stream (the rows lie end to
// end), a chunk of kDecodeChunk blocks at a time.
void DecodeRows(int64_t nb, const unsigned char* w, size_t w_stride, int nr, const BlockQ8_0* a,
                float* out) {
  alignas(32) float a_scale[kDecodeChunk];
  std::fill_n(out, nr, 0.0f);
  for (int64_t b0 = 0; b0 < nb; b0 += kDecodeChunk) {
    const int64_t m = std::min(kDecodeChunk, nb - b0);
    for (int64_t i = 0; i < m; i += kScaleGroup) {
      const __m256 s = i + kScaleGroup <= m ? Q8_0Scales<kScaleGroup>(a, b0 + i, kScaleGroup)
                                            : Q8_0Scales<0>(a, b0 + i, static_cast<int>(m - i));
      _mm256_store_ps(a_scale + i, s);
    }
    for (int r = 0; r < nr; ++r) {
      out[r] += DecodeRow(reinterpret_cast<const BlockQ8_0*>(w + r * w_stride), a, a_scale, b0, m);
    }
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

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  if (nc == 1) {
    DecodeRows(cols / kQ8_0BlockSize, wb, w_stride, nr, reinterpret_cast<const BlockQ8_0*>(ab),
               out);
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
