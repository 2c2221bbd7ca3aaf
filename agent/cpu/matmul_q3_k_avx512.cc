// Q3_K weights x Q8_K activations on AVX-512 (F/BW/VL/DQ + VNNI).
//
// Weight rows are the vector lanes: a tile covers 16 rows, one per 32-bit
// lane. Each super-block of the 16 rows is unpacked once into a panel whose
// vector p holds weights 4p..4p+3 of every row as bytes (16 x 16 dword
// transposes of hmask and qs), already multiplied by their group's scale:
// (q + 4) * |sc| <= 7 * 32 = 224 fits a byte (and vpmullw on the byte pairs
// cannot carry), and for a negative scale the byte is complemented, 255 - (q
// + 4) |sc|, which is (q + 4) sc + 255. vpdpbusd then multiplies it by the
// four int8 activations at 4p of one token, broadcast straight from the Q8_K
// block, for every token of the tile (kBlockCols tokens at a time in
// registers): one instruction per 64 multiply-adds and nothing else per
// group. So the unpacking is paid once per 16 rows and super-block and
// reused over up to kTileCols tokens, and each lane ends up holding its row's
// dot product.
//
// The offsets (the 4 of q + 4, and 255 for each negative scale) come off as
// sum_j (4 sc[j] + 255 [sc[j] < 0]) bsums[j]: one vpdpwssd per pair of groups
// with the Q8_K bsums, in int32. The f32 scale is applied once per
// super-block. Decode (one token) skips the panel: each unpacked vector goes
// straight into the dot products of its group, which are multiplied by the
// scale once (vpmulld), while the next tile's rows are prefetched.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/avx512_helpers.h"
#include "agent/cpu/avx512_intrinsics.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/simd_helpers_x86.h"
#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

constexpr int kRows = kLaneRows;  // weight rows per tile, one per 32-bit lane
constexpr int kTileCols = 64;     // tokens per tile
constexpr int kBlockCols = 8;     // tokens whose accumulators live in registers at once
constexpr int kPositions = kSuperBlockSize / 4;  // 4-weight positions per super-block

constexpr size_t kHmaskOffset = offsetof(BlockQ3_K, hmask);
constexpr size_t kQsOffset = offsetof(BlockQ3_K, qs);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);
constexpr size_t kActBsumsOffset = offsetof(BlockQ8_K, bsums);
// hmask and the first chunk of qs are the first 64 bytes; the 12 scale bytes
// and d are the last 14.
static_assert(kHmaskOffset == 0 && kQsOffset == 32);
static_assert(offsetof(BlockQ3_K, scales) + kQ3KScaleBytes == offsetof(BlockQ3_K, d) &&
              offsetof(BlockQ3_K, d) + 2 == sizeof(BlockQ3_K));
constexpr size_t kHeaderOffset = sizeof(BlockQ3_K) - 16;

// The scales of one super-block of 16 rows. Lane r of each vector is row r.
struct Scales {
  __m512i sc[16];  // [group g]: signed 6-bit scale, i32
  __m512i m[8];    // [pair i]: offset factors of groups 2i and 2i + 1, i16 x 2:
                   // 4 sc, plus 255 for a negative sc in a panel
  __m512 d;        // super-block scale, f32
};

// One super-block of 16 rows, unpacked.
struct Panel {
  __m512i q[kPositions];  // [p]: scaled weights 4p..4p+3 of each row, u8
  Scales s;
};

// Unpacks the scales of the super-block at byte `block` of each row: sixteen
// 6-bit codes (scale + 32) packed in 12 bytes, and the f16 d. m gets 4 sc.
void LoadScales(const unsigned char* const rows[kRows], size_t block, Scales* s) {
  // The last 16 bytes of each block, moved down two bytes within the row's
  // 128-bit lane (z[g] holds rows g, 4 + g, 8 + g, 12 + g), so that an
  // in-lane 4 x 4 transpose leaves: v0, v1 scales[0..7]; v2 scales[8..11]; v3 d.
  __m512i z[4];
  for (int g = 0; g < 4; ++g) {
    z[g] = _mm512_castsi128_si512(Load128(rows[g] + block + kHeaderOffset));
    // The lane must be an immediate: spelled out rather than looped, so that
    // builds that do not unroll loops (-O0, -O1 as in scripts/sanitize.sh) compile.
    z[g] = _mm512_inserti32x4(z[g], Load128(rows[4 + g] + block + kHeaderOffset), 1);
    z[g] = _mm512_inserti32x4(z[g], Load128(rows[8 + g] + block + kHeaderOffset), 2);
    z[g] = _mm512_inserti32x4(z[g], Load128(rows[12 + g] + block + kHeaderOffset), 3);
    z[g] = _mm512_bsrli_epi128(z[g], 2);
  }
  const __m512i t0 = _mm512_unpacklo_epi32(z[0], z[1]);
  const __m512i t1 = _mm512_unpackhi_epi32(z[0], z[1]);
  const __m512i t2 = _mm512_unpacklo_epi32(z[2], z[3]);
  const __m512i t3 = _mm512_unpackhi_epi32(z[2], z[3]);
  const __m512i v0 = _mm512_unpacklo_epi64(t0, t2);
  const __m512i v1 = _mm512_unpackhi_epi64(t0, t2);
  const __m512i v2 = _mm512_unpacklo_epi64(t1, t3);
  s->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_unpackhi_epi64(t1, t3)));
  // Byte b of code[k] is the code of group 4k + b: its low four bits are
  // nibble k / 2 of scales[4 (k % 2) + b], its high two bits are bit pair k
  // of scales[8 + b] (shifts of at most 4 stay within the byte).
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i high[4] = {_mm512_slli_epi16(v2, 4), _mm512_slli_epi16(v2, 2), v2,
                           _mm512_srli_epi16(v2, 2)};
  const __m512i low[4] = {v0, v1, _mm512_srli_epi16(v0, 4), _mm512_srli_epi16(v1, 4)};
  for (int k = 0; k < 4; ++k) {
    // m4 ? low : high (0xca selects bitwise), & 0x3f, - 32: signed bytes -32..31.
    const __m512i code = _mm512_and_si512(_mm512_ternarylogic_epi32(m4, low[k], high[k], 0xca),
                                          _mm512_set1_epi8(0x3f));
    const __m512i scale = _mm512_sub_epi8(code, _mm512_set1_epi8(32));
    for (int b = 0; b < 4; ++b) {
      s->sc[4 * k + b] = _mm512_srai_epi32(_mm512_shuffle_epi8(scale, TopBytePattern(b)), 24);
    }
    // (sc << 8) >> 6 = 4 sc.
    s->m[2 * k] = _mm512_srai_epi16(_mm512_shuffle_epi8(scale, HighBytePattern(0, 1)), 6);
    s->m[2 * k + 1] = _mm512_srai_epi16(_mm512_shuffle_epi8(scale, HighBytePattern(2, 3)), 6);
  }
}

// Quants q + 4 of bit pair p (0..3) of chunk c (0, 1), from the transposed
// qs dword (qs[32c + 4l..]) and hmask dword (hmask[4l..]) of position l: bit
// pair p of qs, and bit 4c + p of hmask moved to bit 2 (shifts of at most 5
// stay within the byte).
inline __m512i Quants(__m512i qs, __m512i hmask, int c, int p) {
  const __m512i low = _mm512_and_si512(_mm512_srli_epi16(qs, 2 * p), _mm512_set1_epi8(3));
  const int bit = 4 * c + p;
  const __m512i high =
      bit >= 2 ? _mm512_srli_epi16(hmask, bit - 2) : _mm512_slli_epi16(hmask, 2 - bit);
  // low | (high & 4).
  return _mm512_ternarylogic_epi32(low, high, _mm512_set1_epi8(4), 0xf8);
}

// Loads hmask and qs of the super-block at byte `block` of each row,
// transposed: first[l] is hmask dword l, first[8 + l] qs dword l (chunk 0),
// second[8 + l] qs dword 8 + l (chunk 1); second[0..7] repeat chunk 0.
inline void LoadQuants(const unsigned char* const rows[kRows], size_t block, __m512i first[16],
                       __m512i second[16]) {
  Load16x16(rows, block + kHmaskOffset, first);
  Load16x16(rows, block + kQsOffset, second);
}

void BuildPanel(const unsigned char* const rows[kRows], size_t block, Panel* p) {
  LoadScales(rows, block, &p->s);
  __m512i first[16], second[16];
  LoadQuants(rows, block, first, second);
  for (int g = 0; g < 16; ++g) {
    // |sc| in both i16 halves, so that vpmullw scales all four bytes, and
    // all ones in the lanes of negative scales.
    const __m512i magnitude = _mm512_abs_epi32(p->s.sc[g]);
    const __m512i scale = _mm512_or_si512(magnitude, _mm512_slli_epi32(magnitude, 16));
    const __m512i negative = _mm512_srai_epi32(p->s.sc[g], 31);
    const int c = g / 8, pair = (g / 2) % 4, l0 = 4 * (g % 2);
    for (int l = l0; l < l0 + 4; ++l) {
      const __m512i q = Quants(c == 0 ? first[8 + l] : second[8 + l], first[l], c, pair);
      p->q[32 * c + 8 * pair + l] = _mm512_xor_si512(_mm512_mullo_epi16(q, scale), negative);
    }
  }
  // The offsets of the complemented bytes: 255 for each negative scale.
  for (int i = 0; i < 8; ++i) {
    const __m512i negative = _mm512_srai_epi16(p->s.m[i], 15);  // 4 sc < 0 iff sc < 0
    p->s.m[i] = _mm512_add_epi16(p->s.m[i], _mm512_and_si512(negative, _mm512_set1_epi16(255)));
  }
}

// Adds d_token * d * (sum - sum_j m[j] bsums[j]) of one token to acc[row].
inline void Finish(const Scales& s, __m512i sum, const unsigned char* act, float* acc) {
  __m512i offsets = _mm512_setzero_si512();
  for (int i = 0; i < 8; ++i) {
    offsets = _mm512_dpwssd_epi32(offsets, s.m[i], Broadcast32(act + kActBsumsOffset + 4 * i));
  }
  const __m512 f = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(sum, offsets)), s.d);
  float d;
  std::memcpy(&d, act + offsetof(BlockQ8_K, d), sizeof(d));
  _mm512_store_ps(acc, _mm512_fmadd_ps(f, _mm512_set1_ps(d), _mm512_load_ps(acc)));
}

// Adds one super-block of K tokens to acc[token][row], from a panel. act
// points at the super-block's Q8_K block of the first token. Fewer than 4
// tokens take two accumulators each, to hide the vpdpbusd latency.
template <int K>
void PanelBlock(const Panel& p, const unsigned char* act, size_t a_stride, float* acc) {
  constexpr int kAccs = K < 4 ? 2 : 1;
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride;
  __m512i sum[K][kAccs];
  for (int c = 0; c < K; ++c) {
    for (int i = 0; i < kAccs; ++i) sum[c][i] = _mm512_setzero_si512();
  }
#pragma GCC unroll 64
  for (int pos = 0; pos < kPositions; ++pos) {
    const __m512i w = p.q[pos];
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) {
      __m512i& s = sum[c][pos % kAccs];
      s = DotBroadcast(s, w, a[c] + kActQsOffset + 4 * pos);
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < K; ++c) {
    __m512i total = sum[c][0];
    for (int i = 1; i < kAccs; ++i) total = _mm512_add_epi32(total, sum[c][i]);
    Finish(p.s, total, a[c], acc + kRows * c);
  }
}

// The same for one token without a panel (decode): the quants q + 4 of each
// group go straight into the dot products, whose sum is multiplied by the
// group's scale.
void DirectBlock(const unsigned char* const rows[kRows], size_t block, const unsigned char* act,
                 float* acc) {
  Scales s;
  LoadScales(rows, block, &s);
  __m512i first[16], second[16];
  LoadQuants(rows, block, first, second);
  const unsigned char* a = act + kActQsOffset;
  __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 16
  for (int g = 0; g < 16; ++g) {
    const int c = g / 8, pair = (g / 2) % 4, l0 = 4 * (g % 2);
    __m512i group[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 4
    for (int l = l0; l < l0 + 4; ++l) {
      const __m512i q = Quants(c == 0 ? first[8 + l] : second[8 + l], first[l], c, pair);
      group[l % 2] = DotBroadcast(group[l % 2], q, a + 4 * (32 * c + 8 * pair + l));
    }
    sum[g % 2] = _mm512_add_epi32(
        sum[g % 2], _mm512_mullo_epi32(_mm512_add_epi32(group[0], group[1]), s.sc[g]));
  }
  Finish(s, _mm512_add_epi32(sum[0], sum[1]), act, acc);
}

void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  // Rows past nr repeat the last row; their lanes are computed and dropped.
  const unsigned char* rows[kRows];
  for (int r = 0; r < kRows; ++r) rows[r] = wb + std::min(r, nr - 1) * w_stride;
  alignas(64) float acc[kTileCols * kRows];  // [token][row], tokens < nc
  std::fill_n(acc, kRows * nc, 0.0f);
  Panel panel;
  const int64_t blocks = cols / kSuperBlockSize;
  for (int64_t b = 0; b < blocks; ++b) {
    const size_t block = b * sizeof(BlockQ3_K);
    const unsigned char* act = ab + b * sizeof(BlockQ8_K);
    PrefetchShare(reinterpret_cast<uintptr_t>(wb) + kRows * w_stride, kRows * w_stride, b, blocks);
    if (nc == 1) {
      DirectBlock(rows, block, act, acc);
      continue;
    }
    BuildPanel(rows, block, &panel);
    ForTokenBlocks<kBlockCols>(nc, [&](auto k, int c) {
      PanelBlock<k()>(panel, act + c * a_stride, a_stride, acc + kRows * c);
    });
  }
  const __mmask16 mask = static_cast<__mmask16>((1u << nr) - 1);
  for (int c = 0; c < nc; ++c) {
    _mm512_mask_storeu_ps(out + c * out_stride, mask, _mm512_load_ps(acc + kRows * c));
  }
}

}  // namespace

extern const MatMulKernel kQ3_KAvx512Kernel = {
    Format::kQ3_K, Isa::kAvx512, ConvertActivationsQ8_KAvx2, ActivationRowBytesQ8_K, Tile,
    kRows,         kTileCols};

}  // namespace aiscore
