// F16 and F32 weights x f32 activations on AVX-512: one kernel, templated on
// the weight type (F16 is widened by vcvtph2ps as it is loaded).
//
// Prefill on F16 panels (panel_layout.h; CpuBackend repacks F16 matrices):
// column k of a panel is one vector of its 16 rows' weights, so a tile keeps
// each token's 16 dot products in the lanes of its accumulators and
// multiplies each weight vector by every token's element k, broadcast from
// memory by the FMA itself: 12 tokens, two accumulators each (even and odd
// columns, against the FMA latency), one vcvtph2ps per 12 FMAs and no
// reduction across lanes. A token's sums follow the same order whatever the
// tokens beside it, decode (one token) included.
// Prefill on rows (F32, and rows past the last panel): a micro-tile of
// kMicroRows weight rows x kMicroCols activation rows keeps each of its 24
// dot products in a zmm register over the whole row, so a weight vector (16
// halves widened by vcvtph2ps) feeds 4 FMAs and an activation vector 6, and
// reduces each across its lanes at the end.
// Decode on rows is memory-bound: it reads the rows of a tile side by side,
// one accumulator each, so that the hardware prefetcher runs a stream per row
// and many cache-line misses are in flight at once (one stream at a time
// reaches about two thirds of the bandwidth on Zen 4). Decode on panels
// reads one panel as one stream and prefetches the next panel as it goes.
// The last cols % 16 elements of a row take one masked step.
// Either may run on column slices (kSliceAlign): widening F16 as it is
// loaded is cheaper than widening rows into an F32 copy once per task
// (measured: the copy doubles the bytes the tile reads from L2 and costs a
// quarter of the speed).
#include <algorithm>
#include <array>
#include <cstdint>
#include <utility>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/simd_helpers_x86.h"

namespace aiscore {
namespace {

constexpr int kMicroRows = 6;
constexpr int kMicroCols = 4;
constexpr int kTileRows = 2 * kMicroRows;  // F32
constexpr int kTileCols = kMicroCols;      // F32
constexpr int kPanelCols = 12;             // F16: tiles of kPanelRows x kPanelCols
constexpr int kDecodeRows = kPanelRows;    // the most rows either kernel's tile has
constexpr int64_t kSliceAlign = 16;

// Sixteen weights as floats, and the first n of them (the rest zero).
inline __m512 LoadWeights(const uint16_t* p) {
  return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)));
}
inline __m512 LoadWeights(const float* p) { return _mm512_loadu_ps(p); }
inline __m512 LoadWeights(const uint16_t* p, __mmask16 mask) {
  return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(mask, p));
}
inline __m512 LoadWeights(const float* p, __mmask16 mask) { return _mm512_maskz_loadu_ps(mask, p); }

inline __mmask16 TailMask(int64_t n) { return static_cast<__mmask16>((1u << n) - 1); }

// out[c * out_stride + r] = dot(weight row r, activation row c) for r < RM, c < RN.
// (The unroll pragmas keep GCC from leaving the accumulators in memory.)
template <typename T, int RM, int RN>
void MicroTile(int64_t cols, const unsigned char* w, size_t w_stride, const unsigned char* a,
               size_t a_stride, float* out, size_t out_stride) {
  const T* wr[RM];
  const float* ac[RN];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) wr[r] = reinterpret_cast<const T*>(w + r * w_stride);
#pragma GCC unroll 16
  for (int c = 0; c < RN; ++c) ac[c] = reinterpret_cast<const float*>(a + c * a_stride);
  __m512 acc[RM][RN];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) acc[r][c] = _mm512_setzero_ps();
  }
  int64_t k = 0;
  for (; k + 16 <= cols; k += 16) {
    __m512 av[RN];
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) av[c] = _mm512_loadu_ps(ac[c] + k);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
      const __m512 wv = LoadWeights(wr[r] + k);
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) acc[r][c] = _mm512_fmadd_ps(wv, av[c], acc[r][c]);
    }
  }
  if (k < cols) {
    const __mmask16 mask = TailMask(cols - k);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
      const __m512 wv = LoadWeights(wr[r] + k, mask);
#pragma GCC unroll 16
      for (int c = 0; c < RN; ++c) {
        acc[r][c] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(mask, ac[c] + k), acc[r][c]);
      }
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) {
#pragma GCC unroll 16
    for (int c = 0; c < RN; ++c) out[c * out_stride + r] = _mm512_reduce_add_ps(acc[r][c]);
  }
}

// Decode: out[r] = dot(weight row r, the activation row x) for r < RM.
template <typename T, int RM>
void DecodeTile(int64_t cols, const unsigned char* w, size_t w_stride, const float* x, float* out) {
  const T* wr[RM];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) wr[r] = reinterpret_cast<const T*>(w + r * w_stride);
  __m512 acc[RM];
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) acc[r] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 16 <= cols; k += 16) {
    const __m512 xv = _mm512_loadu_ps(x + k);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) acc[r] = _mm512_fmadd_ps(LoadWeights(wr[r] + k), xv, acc[r]);
  }
  if (k < cols) {
    const __mmask16 mask = TailMask(cols - k);
    const __m512 xv = _mm512_maskz_loadu_ps(mask, x + k);
#pragma GCC unroll 16
    for (int r = 0; r < RM; ++r) {
      acc[r] = _mm512_fmadd_ps(LoadWeights(wr[r] + k, mask), xv, acc[r]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < RM; ++r) out[r] = _mm512_reduce_add_ps(acc[r]);
}

// Panels: out[c * out_stride + r] = dot(panel row r, activation row c) for
// r < 16, c < NC, over `cols` columns of the panel at w. With Prefetch
// (decode), a line per line read, kStreamPrefetchAhead on.
template <int NC, bool Prefetch>
void PanelMicroTile(int64_t cols, const uint16_t* w, const unsigned char* a, size_t a_stride,
                    float* out, size_t out_stride) {
  const float* ac[NC];
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c) ac[c] = reinterpret_cast<const float*>(a + c * a_stride);
  __m512 even[NC], odd[NC];
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c) even[c] = odd[c] = _mm512_setzero_ps();
  int64_t k = 0;
  for (; k + 2 <= cols; k += 2) {
    if constexpr (Prefetch) PrefetchAhead(w + kPanelRows * k, 64);
    const __m512 w0 = LoadWeights(w + kPanelRows * k);
    const __m512 w1 = LoadWeights(w + kPanelRows * (k + 1));
#pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) {
      even[c] = _mm512_fmadd_ps(w0, _mm512_set1_ps(ac[c][k]), even[c]);
      odd[c] = _mm512_fmadd_ps(w1, _mm512_set1_ps(ac[c][k + 1]), odd[c]);
    }
  }
  if (k < cols) {
    const __m512 w0 = LoadWeights(w + kPanelRows * k);
#pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) even[c] = _mm512_fmadd_ps(w0, _mm512_set1_ps(ac[c][k]), even[c]);
  }
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c)
    _mm512_storeu_ps(out + c * out_stride, _mm512_add_ps(even[c], odd[c]));
}

using MicroTileFn = void (*)(int64_t, const unsigned char*, size_t, const unsigned char*, size_t,
                             float*, size_t);
using DecodeTileFn = void (*)(int64_t, const unsigned char*, size_t, const float*, float*);

// Entry (nr - 1) * kMicroCols + (nc - 1) handles an nr x nc micro-tile.
template <typename T, size_t... I>
constexpr std::array<MicroTileFn, sizeof...(I)> MakeMicroTiles(std::index_sequence<I...>) {
  return {&MicroTile<T, I / kMicroCols + 1, I % kMicroCols + 1>...};
}
template <typename T>
constexpr auto kMicroTiles = MakeMicroTiles<T>(std::make_index_sequence<kMicroRows * kMicroCols>());

// Entry nr - 1 handles nr rows of decode.
template <typename T, size_t... I>
constexpr std::array<DecodeTileFn, sizeof...(I)> MakeDecodeTiles(std::index_sequence<I...>) {
  return {&DecodeTile<T, I + 1>...};
}
template <typename T>
constexpr auto kDecodeTiles = MakeDecodeTiles<T>(std::make_index_sequence<kDecodeRows>());

template <typename T>
void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  if (nc == 1) {
    kDecodeTiles<T>[nr - 1](cols, wb, w_stride, static_cast<const float*>(a), out);
    return;
  }
  for (int c0 = 0; c0 < nc; c0 += kMicroCols) {
    const int mc = std::min(kMicroCols, nc - c0);
    for (int r0 = 0; r0 < nr; r0 += kMicroRows) {
      const int mr = std::min(kMicroRows, nr - r0);
      kMicroTiles<T>[(mr - 1) * kMicroCols + (mc - 1)](cols, wb + r0 * w_stride, w_stride,
                                                       ab + c0 * a_stride, a_stride,
                                                       out + c0 * out_stride + r0, out_stride);
    }
  }
}

// The tile on an F16 panel (nr == kPanelRows); decode prefetches ahead.
void PanelTile(int64_t cols, const void* w, size_t /*w_stride*/, int /*nr*/, const void* a,
               size_t a_stride, int nc, float* out, size_t out_stride) {
  WithCount<kPanelCols>(nc, [&](auto k) {
    PanelMicroTile<k(), k() == 1>(cols, static_cast<const uint16_t*>(w),
                                  static_cast<const unsigned char*>(a), a_stride, out, out_stride);
  });
}

}  // namespace

extern const MatMulKernel kF16Avx512Kernel = {.format = Format::kF16,
                                              .isa = Isa::kAvx512,
                                              .convert_activations = ConvertActivationsF32,
                                              .activation_row_bytes = ActivationRowBytesF32,
                                              .tile = Tile<uint16_t>,
                                              .tile_rows = kPanelRows,
                                              .tile_cols = kPanelCols,
                                              .k_slice_align = kSliceAlign,
                                              .panel_tile = PanelTile};
extern const MatMulKernel kF32Avx512Kernel = {.format = Format::kF32,
                                              .isa = Isa::kAvx512,
                                              .convert_activations = ConvertActivationsF32,
                                              .activation_row_bytes = ActivationRowBytesF32,
                                              .tile = Tile<float>,
                                              .tile_rows = kTileRows,
                                              .tile_cols = kTileCols,
                                              .k_slice_align = kSliceAlign};

}  // namespace aiscore
