// F16 and F32 weights x f32 activations on AVX2 + FMA + F16C: one kernel,
// templated on the weight type (F16 is widened by vcvtph2ps as it is loaded).
//
// Prefill: a micro-tile of kMicroRows weight rows x kMicroCols activation
// rows keeps each of its 12 dot products in a ymm register over the whole
// row, so a weight vector (8 halves widened by vcvtph2ps) feeds 3 FMAs and an
// activation vector 4; a kernel tile is three micro-tiles stacked.
// Decode on rows (one activation row) is memory-bound: it reads up to
// kDecodeRows rows of a tile side by side, one accumulator each, so that the
// hardware prefetcher runs a stream per row and many cache-line misses are in
// flight at once. The last cols % 8 elements take one more step, zero-padded.
//
// F16 matrices are repacked into panels (panel_layout.h), as for AVX-512:
// column k of a panel is the 16 rows' weights, two vectors of 8. The panel
// tile keeps each token's 16 dot products in the lanes of its accumulators
// (two per token and parity of k, against the FMA latency) and multiplies
// each weight vector by the token's element k, broadcast; no reduction
// across lanes. Each lane takes the same FMAs in the same order as a lane of
// the AVX-512 panel tile, and a token's sums do not depend on the tokens
// beside it. Decode reads a panel as one stream, prefetching ahead as the
// other decode kernels do: on rows, 12 streams, it read 71% of the probe end
// to end on Zen 5 (docs/performance.md, "The AVX2 kernels on this machine").
// Either tile may run on column slices (kSliceAlign).
#include <immintrin.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/simd_helpers_x86.h"

namespace aiscore {
namespace {

constexpr int kMicroRows = 4;
constexpr int kMicroCols = 3;
constexpr int kTileRows = 3 * kMicroRows;  // F32
constexpr int kTileCols = kMicroCols;      // F32, and F16's panel tile
constexpr int kDecodeRows = kTileRows;     // rows one decode pass reads side by side
constexpr int64_t kSliceAlign = 16;

// Eight weights as floats.
inline __m256 LoadWeights(const uint16_t* p) { return LoadF16x8(p); }
inline __m256 LoadWeights(const float* p) { return _mm256_loadu_ps(p); }

// Elements k..cols (fewer than 8) of a row, zero-padded to a vector, so that
// the tail is one more vector step of the same FMAs for F16 and F32 weights.
template <typename T>
inline __m256 LoadTail(const T* p, int64_t k, int64_t cols) {
  T buf[8] = {};
  for (int64_t i = k; i < cols; ++i) buf[i - k] = p[i];
  return LoadWeights(buf);
}

// out[c * out_stride + r] = dot(weight row r, activation row c) for r < RM, c < RN.
// (The unroll pragmas keep GCC from leaving the accumulators in memory.)
template <typename W, int RM, int RN>
void MicroTile(int64_t cols, const unsigned char* w, size_t w_stride, const unsigned char* a,
               size_t a_stride, float* out, size_t out_stride) {
  const W* wr[RM];
  const float* ac[RN];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) wr[r] = reinterpret_cast<const W*>(w + r * w_stride);
#pragma GCC unroll 16
  for (int c = 0; c < RN; ++c) ac[c] = reinterpret_cast<const float*>(a + c * a_stride);
  __m256 acc[RM][RN];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) acc[r][c] = _mm256_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 8 <= cols; k += 8) {
    __m256 av[RN];
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) av[c] = _mm256_loadu_ps(ac[c] + k);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
      const __m256 wv = LoadWeights(wr[r] + k);
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) acc[r][c] = _mm256_fmadd_ps(wv, av[c], acc[r][c]);
    }
  }
  if (k < cols) {
    __m256 av[RN];
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) av[c] = LoadTail(ac[c], k, cols);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
      const __m256 wv = LoadTail(wr[r], k, cols);
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) acc[r][c] = _mm256_fmadd_ps(wv, av[c], acc[r][c]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) out[c * out_stride + r] = HorizontalSum(acc[r][c]);
  }
}

// Decode: out[r] = dot(weight row r, the activation row x) for r < RM.
template <typename W, int RM>
void DecodeTile(int64_t cols, const unsigned char* w, size_t w_stride, const float* x, float* out) {
  const W* wr[RM];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) wr[r] = reinterpret_cast<const W*>(w + r * w_stride);
  __m256 acc[RM];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) acc[r] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= cols; k += 8) {
    const __m256 xv = _mm256_loadu_ps(x + k);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) acc[r] = _mm256_fmadd_ps(LoadWeights(wr[r] + k), xv, acc[r]);
  }
  if (k < cols) {
    const __m256 xv = LoadTail(x, k, cols);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) acc[r] = _mm256_fmadd_ps(LoadTail(wr[r], k, cols), xv, acc[r]);
  }
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) out[r] = HorizontalSum(acc[r]);
}

// Panels: out[c * out_stride + r] = dot(panel row r, activation row c) for
// r < 16, c < NC, over `cols` columns of the panel at w. With Prefetch
// (decode), a line per line read, kStreamPrefetchAhead on.
template <int NC, bool Prefetch>
void PanelMicroTile(int64_t cols, const uint16_t* w, const unsigned char* a, size_t a_stride,
                    float* out, size_t out_stride) {
  const float* ac[NC];
#pragma GCC unroll 4
  for (int c = 0; c < NC; ++c) ac[c] = reinterpret_cast<const float*>(a + c * a_stride);
  __m256 even[NC][2], odd[NC][2];  // [token][rows 0-7, 8-15]
#pragma GCC unroll 4
  for (int c = 0; c < NC; ++c) {
    for (int h = 0; h < 2; ++h) even[c][h] = odd[c][h] = _mm256_setzero_ps();
  }
  // acc[c] += column k of the panel times token c's element k.
  auto add_column = [&](__m256(&acc)[NC][2], int64_t k) {
#pragma GCC unroll 2
    for (int h = 0; h < 2; ++h) {
      const __m256 wk = LoadWeights(w + kPanelRows * k + 8 * h);
#pragma GCC unroll 4
      for (int c = 0; c < NC; ++c)
        acc[c][h] = _mm256_fmadd_ps(wk, _mm256_set1_ps(ac[c][k]), acc[c][h]);
    }
  };
  int64_t k = 0;
  for (; k + 2 <= cols; k += 2) {
    if constexpr (Prefetch) PrefetchAhead(w + kPanelRows * k, 64);
    add_column(even, k);
    add_column(odd, k + 1);
  }
  if (k < cols) add_column(even, k);
#pragma GCC unroll 4
  for (int c = 0; c < NC; ++c) {
    for (int h = 0; h < 2; ++h) {
      _mm256_storeu_ps(out + c * out_stride + 8 * h, _mm256_add_ps(even[c][h], odd[c][h]));
    }
  }
}

using MicroTileFn = void (*)(int64_t, const unsigned char*, size_t, const unsigned char*, size_t,
                             float*, size_t);
using DecodeTileFn = void (*)(int64_t, const unsigned char*, size_t, const float*, float*);

// Entry (nr - 1) * kMicroCols + (nc - 1) handles an nr x nc micro-tile.
template <typename W, size_t... I>
constexpr std::array<MicroTileFn, sizeof...(I)> MakeMicroTiles(std::index_sequence<I...>) {
  return {&MicroTile<W, I / kMicroCols + 1, I % kMicroCols + 1>...};
}
template <typename W>
constexpr auto kMicroTiles = MakeMicroTiles<W>(std::make_index_sequence<kMicroRows * kMicroCols>());

// Entry nr - 1 handles nr rows of decode.
template <typename W, size_t... I>
constexpr std::array<DecodeTileFn, sizeof...(I)> MakeDecodeTiles(std::index_sequence<I...>) {
  return {&DecodeTile<W, I + 1>...};
}
template <typename W>
constexpr auto kDecodeTiles = MakeDecodeTiles<W>(std::make_index_sequence<kDecodeRows>());

template <typename W>
void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  if (nc == 1) {
    for (int r0 = 0; r0 < nr; r0 += kDecodeRows) {
      kDecodeTiles<W>[std::min(kDecodeRows, nr - r0) - 1](cols, wb + r0 * w_stride, w_stride,
                                                          static_cast<const float*>(a), out + r0);
    }
    return;
  }
  for (int r0 = 0; r0 < nr; r0 += kMicroRows) {
    const int mr = std::min(kMicroRows, nr - r0);
    kMicroTiles<W>[(mr - 1) * kMicroCols + (nc - 1)](cols, wb + r0 * w_stride, w_stride,
                                                     static_cast<const unsigned char*>(a), a_stride,
                                                     out + r0, out_stride);
  }
}

// The tile on an F16 panel (nr == kPanelRows, nc <= kTileCols); decode
// prefetches ahead.
void PanelTile(int64_t cols, const void* w, size_t /*w_stride*/, int /*nr*/, const void* a,
               size_t a_stride, int nc, float* out, size_t out_stride) {
  WithCount<kTileCols>(nc, [&](auto k) {
    PanelMicroTile<k(), k() == 1>(cols, static_cast<const uint16_t*>(w),
                                  static_cast<const unsigned char*>(a), a_stride, out, out_stride);
  });
}

}  // namespace

extern const MatMulKernel kF16Avx2Kernel = {.format = Format::kF16,
                                            .isa = Isa::kAvx2,
                                            .convert_activations = ConvertActivationsF32,
                                            .activation_row_bytes = ActivationRowBytesF32,
                                            .tile = Tile<uint16_t>,
                                            .tile_rows = kPanelRows,
                                            .tile_cols = kTileCols,
                                            .k_slice_align = kSliceAlign,
                                            .panel_tile = PanelTile};
extern const MatMulKernel kF32Avx2Kernel = {
    Format::kF32, Isa::kAvx2, ConvertActivationsF32, ActivationRowBytesF32, Tile<float>, kTileRows,
    kTileCols,    kSliceAlign};

}  // namespace aiscore
