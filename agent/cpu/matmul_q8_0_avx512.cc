// Q8_0 weights x Q8_0 activations on AVX-512 VNNI, and a vectorized
// activation quantizer that writes the same bytes as the portable one.
//
// vpdpbusd multiplies unsigned by signed bytes, so prefill offsets weights to
// unsigned (w ^ 0x80 = w + 128) and takes the offset's share, 128 * the sum
// of the activations it met, off again (decode, below, multiplies |w| by the
// activations with w's sign instead). Every 32-weight block has its own
// float scale on both sides, so each block's integer dot product is scaled
// on its own; on Zen 4 vpdpbusd and FMA share two pipes, which makes that
// scaling as costly as the integer work unless one FMA serves many dot
// products.
//
// Prefill (several activation rows) repacks a tile's 15 weight rows so that
// each 32-bit lane of a zmm register belongs to one row: one vpdpbusd then
// advances 15 dot products by 4 quants against 4 activation bytes broadcast
// from memory, and one multiply and one FMA scale 15 dot products. Lane 15
// holds weight 0 (128 after the offset), so it sums the activations times
// 128: the offset's share, taken from every lane.
//
// Decode (one activation row) is memory-bound, and reads one stream: weight
// rows one after another, each a dot product of its own (vpdpbusd of |w| and
// a with w's sign; the integer sums of 8 blocks gathered into one vector and
// scaled by one FMA), prefetching 8 KiB ahead. On Zen 5 (2 threads, 14336 x
// 4096 from DRAM) it reads 39-45 GiB/s with the probe at 44-45 where reading
// the tile's 15 rows side by side, as the prefill tile does (15 streams),
// read 30-34.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <utility>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kTileRows = 15;  // weight rows: one zmm lane each, and a lane for the offset
constexpr int kTileCols = 64;  // activation rows

inline __m256i LoadQuants(const BlockQ8_0& block) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(block.qs));
}

// Same arithmetic as QuantizeRowQ8_0: d = f16(amax / 127), q = clamp(round(x
// / d), -127, 127) with round half to even (vcvtps2dq under the default MXCSR).
void ConvertActivations(const float* x, int64_t cols, void* out) {
  auto* blocks = static_cast<BlockQ8_0*>(out);
  for (int64_t b = 0; b < cols / kQ8_0BlockSize; ++b, x += kQ8_0BlockSize) {
    const __m512 v0 = _mm512_loadu_ps(x);
    const __m512 v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const uint16_t d_bits = _cvtss_sh(amax / 127.0f, _MM_FROUND_TO_NEAREST_INT);
    const float d = _cvtsh_ss(d_bits);
    blocks[b].d = d_bits;
    if (!(d > 0)) {
      std::memset(blocks[b].qs, 0, sizeof(blocks[b].qs));
      continue;
    }
    const __m512 vd = _mm512_set1_ps(d);
    const __m512i lo = _mm512_cvtps_epi32(_mm512_div_ps(v0, vd));
    const __m512i hi = _mm512_cvtps_epi32(_mm512_div_ps(v1, vd));
    const __m128i min = _mm_set1_epi8(-127);
    // vpmovsdb saturates to [-128, 127]; the max makes it [-127, 127].
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs),
                     _mm_max_epi8(_mm512_cvtsepi32_epi8(lo), min));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(blocks[b].qs + 16),
                     _mm_max_epi8(_mm512_cvtsepi32_epi8(hi), min));
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

// Decode's blocks per group: their pair scales d_w * d_a come from one
// vector multiply, and their integer sums are scaled by one FMA.
constexpr int kScaleGroup = 8;

// Decode's column chunk, in blocks: 2048 (65536 columns) is wider than any
// row of a 70B model, so rows are read whole.
constexpr int64_t kDecodeBlocks = 2048;

// The sums of the eight lanes of each of d[0..7], in lanes 0..7.
inline __m256i LaneSums(const __m256i d[8]) {
  const __m256i h0123 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(d[0], d[1]), _mm256_hadd_epi32(d[2], d[3]));
  const __m256i h4567 =
      _mm256_hadd_epi32(_mm256_hadd_epi32(d[4], d[5]), _mm256_hadd_epi32(d[6], d[7]));
  // Lane i of each 128-bit half now holds half of the sum of d[i] (d[4 + i]).
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20),
                          _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

// Decode: the dot product of one weight row with the activation row a, over
// nb blocks. vpdpbusd takes |w| (unsigned) and a with w's sign; the integer
// sums of 8 blocks are gathered into one vector's lanes and scaled together.
// a_scale holds a's block scales as floats.
float DecodeRow(int64_t nb, const BlockQ8_0* row, const BlockQ8_0* a, const float* a_scale) {
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; b += kScaleGroup) {
    const bool full = b + kScaleGroup <= nb;
    const int m = full ? kScaleGroup : static_cast<int>(nb - b);
    __m256i dot[kScaleGroup];
    PrefetchAhead(row + b, kScaleGroup * sizeof(BlockQ8_0));
#pragma GCC unroll 8
    for (int i = 0; i < kScaleGroup; ++i) {
      dot[i] = _mm256_setzero_si256();
      if (!full && i >= m) continue;
      const __m256i w = LoadQuants(row[b + i]);
      dot[i] = _mm256_dpbusd_epi32(dot[i], _mm256_abs_epi8(w),
                                   _mm256_sign_epi8(LoadQuants(a[b + i]), w));
    }
    const __m256 w_scale = full ? BlockScales<kScaleGroup>(row, b, m) : BlockScales<0>(row, b, m);
    const __m256 scale = _mm256_mul_ps(w_scale, _mm256_loadu_ps(a_scale + b));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(LaneSums(dot)), scale, acc);
  }
  return HorizontalSum(acc);
}

// Prefill: see the top of the file.
constexpr int kChunkBlocks = 16;  // blocks repacked at a time: 9 KiB, stays in L1
constexpr int kColGroup = 8;      // activation rows whose sums stay in registers

struct RepackedChunk {
  __m512i quants[kChunkBlocks][8];  // lane l: bytes 4j .. 4j + 3 of row l, + 128
  __m512 w_scale[kChunkBlocks];     // lane l: scale of row l; 0 past the rows
};

// Repacks blocks b0 .. b0 + m - 1 of rows 0 .. nr - 1.
void RepackChunk(const unsigned char* w, size_t w_stride, int nr, int64_t b0, int m,
                 RepackedChunk* out) {
  const __m256i offset = _mm256_set1_epi8(static_cast<char>(0x80));
  // Gather 128-bit lanes: dwords j and j + 4 of both 256-bit halves.
  const __m512i lo_idx = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
  const __m512i hi_idx = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
  for (int i = 0; i < m; ++i) {
    const int64_t b = b0 + i;
    // Row r's quants + 128; rows past nr, and lane 15, are weight 0.
    auto row = [&](int r) {
      const __m256i q = r < nr ? LoadQuants(reinterpret_cast<const BlockQ8_0*>(w + r * w_stride)[b])
                               : _mm256_setzero_si256();
      return _mm256_xor_si256(q, offset);
    };
    // z[k]: row k in the low half, row k + 8 in the high half.
    __m512i z[8];
    for (int k = 0; k < 8; ++k) {
      z[k] = _mm512_inserti64x4(_mm512_castsi256_si512(row(k)), row(k + 8), 1);
    }
    // 8 x 8 dword transpose within each half: unpack pairs, quads, then lanes.
    __m512i t[8], u[8];
    for (int k = 0; k < 4; ++k) {
      t[2 * k] = _mm512_unpacklo_epi32(z[2 * k], z[2 * k + 1]);
      t[2 * k + 1] = _mm512_unpackhi_epi32(z[2 * k], z[2 * k + 1]);
    }
    for (int k = 0; k < 2; ++k) {
      u[4 * k + 0] = _mm512_unpacklo_epi64(t[4 * k], t[4 * k + 2]);
      u[4 * k + 1] = _mm512_unpackhi_epi64(t[4 * k], t[4 * k + 2]);
      u[4 * k + 2] = _mm512_unpacklo_epi64(t[4 * k + 1], t[4 * k + 3]);
      u[4 * k + 3] = _mm512_unpackhi_epi64(t[4 * k + 1], t[4 * k + 3]);
    }
    for (int j = 0; j < 4; ++j) {
      out->quants[i][j] = _mm512_permutex2var_epi64(u[j], lo_idx, u[j + 4]);
      out->quants[i][j + 4] = _mm512_permutex2var_epi64(u[j], hi_idx, u[j + 4]);
    }
    alignas(32) uint16_t d[16] = {};
    for (int r = 0; r < nr; ++r) d[r] = reinterpret_cast<const BlockQ8_0*>(w + r * w_stride)[b].d;
    out->w_scale[i] = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(d)));
  }
}

// acc[c] += the dot products of the chunk's rows with activation rows a[c],
// blocks 0 .. m - 1 of the chunk (a[c] points at the chunk's first block);
// a_scale[c][i]: the scale of block i of a[c].
template <int NC>
void GroupChunk(const RepackedChunk& rc, int m, const BlockQ8_0* const* a,
                const float (*a_scale)[kChunkBlocks], float* acc) {
  __m512 sum[NC];
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c) sum[c] = _mm512_load_ps(acc + 16 * c);
  const __m512i lane15 = _mm512_set1_epi32(15);
  for (int i = 0; i < m; ++i) {
    __m512i dot[NC];
#pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) dot[c] = _mm512_setzero_si512();
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      const __m512i wq = rc.quants[i][j];
#pragma GCC unroll 16
      for (int c = 0; c < NC; ++c) {
        int32_t a4;
        std::memcpy(&a4, a[c][i].qs + 4 * j, sizeof(a4));
        dot[c] = _mm512_dpbusd_epi32(dot[c], wq, _mm512_set1_epi32(a4));
      }
    }
#pragma GCC unroll 16
    for (int c = 0; c < NC; ++c) {
      const __m512i exact = _mm512_sub_epi32(dot[c], _mm512_permutexvar_epi32(lane15, dot[c]));
      const __m512 scaled = _mm512_mul_ps(_mm512_cvtepi32_ps(exact), _mm512_set1_ps(a_scale[c][i]));
      sum[c] = _mm512_fmadd_ps(scaled, rc.w_scale[i], sum[c]);
    }
  }
#pragma GCC unroll 16
  for (int c = 0; c < NC; ++c) _mm512_store_ps(acc + 16 * c, sum[c]);
}

using GroupChunkFn = void (*)(const RepackedChunk&, int, const BlockQ8_0* const*,
                              const float (*)[kChunkBlocks], float*);
template <size_t... I>
constexpr std::array<GroupChunkFn, sizeof...(I)> MakeGroupChunks(std::index_sequence<I...>) {
  return {&GroupChunk<I + 1>...};
}
constexpr auto kGroupChunks = MakeGroupChunks(std::make_index_sequence<kColGroup>());

// out[c * out_stride + r] for r < nr <= kTileRows, c < nc <= kTileCols.
void PrefillTile(int64_t cols, const unsigned char* w, size_t w_stride, int nr,
                 const unsigned char* a, size_t a_stride, int nc, float* out, size_t out_stride) {
  alignas(64) float acc[kTileCols][16];  // lane r: row r
  for (int c = 0; c < nc; ++c) _mm512_store_ps(acc[c], _mm512_setzero_ps());
  RepackedChunk rc;
  alignas(64) float a_scale[kTileCols][kChunkBlocks];
  const BlockQ8_0* a_rows[kTileCols];
  const int64_t nb = cols / kQ8_0BlockSize;
  for (int64_t b0 = 0; b0 < nb; b0 += kChunkBlocks) {
    const int m = static_cast<int>(std::min<int64_t>(kChunkBlocks, nb - b0));
    RepackChunk(w, w_stride, nr, b0, m, &rc);
    for (int c = 0; c < nc; ++c) {
      a_rows[c] = reinterpret_cast<const BlockQ8_0*>(a + c * a_stride) + b0;
      for (int i = 0; i < m; ++i) a_scale[c][i] = _cvtsh_ss(a_rows[c][i].d);
    }
    for (int c0 = 0; c0 < nc; c0 += kColGroup) {
      kGroupChunks[std::min(kColGroup, nc - c0) - 1](rc, m, a_rows + c0, a_scale + c0, acc[c0]);
    }
  }
  const __mmask16 rows = static_cast<__mmask16>((1u << nr) - 1);
  for (int c = 0; c < nc; ++c) {
    _mm512_mask_storeu_ps(out + c * out_stride, rows, _mm512_load_ps(acc[c]));
  }
}

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  if (nc == 1) {
    // Row after row (one stream), in column chunks of at most kDecodeBlocks
    // blocks, whose activation scales are converted once for all rows.
    const auto* ablocks = static_cast<const BlockQ8_0*>(a);
    const int64_t nb = cols / kQ8_0BlockSize;
    alignas(32) float a_scale[kDecodeBlocks + kScaleGroup];
    for (int64_t c0 = 0; c0 < nb; c0 += kDecodeBlocks) {
      const int64_t n = std::min<int64_t>(kDecodeBlocks, nb - c0);
      for (int64_t b = 0; b < n; b += kScaleGroup) {
        const int m = static_cast<int>(std::min<int64_t>(kScaleGroup, n - b));
        _mm256_store_ps(a_scale + b, BlockScales<0>(ablocks + c0, b, m));
      }
      for (int r = 0; r < nr; ++r) {
        const auto* row = reinterpret_cast<const BlockQ8_0*>(wb + r * w_stride) + c0;
        const float dot = DecodeRow(n, row, ablocks + c0, a_scale);
        out[r] = c0 == 0 ? dot : out[r] + dot;
      }
    }
    return;
  }
  PrefillTile(cols, wb, w_stride, nr, ab, a_stride, nc, out, out_stride);
}

}  // namespace

extern const MatMulKernel kQ8_0Avx512Kernel = {
    Format::kQ8_0, Isa::kAvx512, ConvertActivations, ActivationRowBytesQ8_0,
    Tile,          kTileRows,    kTileCols};

}  // namespace aiscore
