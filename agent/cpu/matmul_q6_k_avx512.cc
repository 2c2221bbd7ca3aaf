// Q6_K weights x Q8_K activations on AVX-512 (F/BW/VL/DQ + VNNI).
//
// Weight rows are the vector lanes: a tile covers 16 rows, one per 32-bit
// lane. Each super-block of the 16 rows is unpacked once into a panel whose
// vector p holds quants 4p..4p+3 of every row as bytes, q + 32 in 0..63 (16 x
// 16 dword transposes of ql and qh, then the low nibble and the high bit pair
// are or-ed together). vpdpbusd multiplies it by the four int8 activations at
// 4p of one token, broadcast straight from the Q8_K block, for every token of
// the tile (kBlockCols tokens at a time in registers); the four positions of
// a group of 16 accumulate in int32 and are multiplied by the group's signed
// 8-bit scale once (vpmulld). So the unpacking is paid once per 16 rows and
// super-block and reused over up to kTileCols tokens, and each lane ends up
// holding its row's dot product.
//
// The quants enter offset by 32, so the dot product of group j is
// sum (q + 32) a - 32 * bsums[j]; the correction, sum_j 32 sc[j] bsums[j], is
// one vpdpwssd per pair of groups with the Q8_K bsums, in int32. The f32
// scale is applied once per super-block. Decode (one token) skips the panel
// and feeds each unpacked vector straight into the dot products, while the
// next tile's rows are prefetched.
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
constexpr int kPositions = kSuperBlockSize / 4;  // 4-quant positions per super-block

constexpr size_t kQlOffset = offsetof(BlockQ6_K, ql);
constexpr size_t kQhOffset = offsetof(BlockQ6_K, qh);
constexpr size_t kScalesOffset = offsetof(BlockQ6_K, scales);
constexpr size_t kDOffset = offsetof(BlockQ6_K, d);
constexpr size_t kActQsOffset = offsetof(BlockQ8_K, qs);
constexpr size_t kActBsumsOffset = offsetof(BlockQ8_K, bsums);

// The scales of one super-block of 16 rows. Lane r of each vector is row r.
struct Scales {
  __m512i sc[16];  // [group g]: signed 8-bit scale, i32
  __m512i m[8];    // [pair i]: 32 * scales of groups 2i and 2i + 1, i16 x 2
  __m512 d;        // super-block scale, f32
};

// One super-block of 16 rows, unpacked.
struct Panel {
  __m512i q[kPositions];  // [p]: q + 32 of quants 4p..4p+3 of each row, u8 0..63
  Scales s;
};

// Unpacks the scales of the super-block at byte `block` of each row: 16
// signed bytes and the f16 d.
void LoadScales(const unsigned char* const rows[kRows], size_t block, Scales* s) {
  __m512i v[4];
  // Bytes 194..209: the last dword holds scales 14, 15 and d.
  LoadTransposed4(rows, block + kDOffset + 2 - 16, v);
  s->d = _mm512_cvtph_ps(_mm512_cvtepi32_epi16(_mm512_srli_epi32(v[3], 16)));
  LoadTransposed4(rows, block + kScalesOffset, v);  // byte b of v[k]: scale of group 4k + b
  for (int k = 0; k < 4; ++k) {
    for (int b = 0; b < 4; ++b) {
      s->sc[4 * k + b] = _mm512_srai_epi32(_mm512_shuffle_epi8(v[k], TopBytePattern(b)), 24);
    }
    // (sc << 8) >> 3 = 32 sc.
    s->m[2 * k] = _mm512_srai_epi16(_mm512_shuffle_epi8(v[k], HighBytePattern(0, 1)), 3);
    s->m[2 * k + 1] = _mm512_srai_epi16(_mm512_shuffle_epi8(v[k], HighBytePattern(2, 3)), 3);
  }
}

// Quants q + 32 of quarter p (0..3) of a chunk of 128, from the transposed
// ql dword (ql[64c + 32 (p % 2) + 4l..]) and qh dword (qh[32c + 4l..]) of
// position l: the nibble p / 2 of ql and bit pair p of qh shifted to bits 4-5.
inline __m512i Quants(__m512i ql, __m512i qh, int p) {
  const __m512i m4 = _mm512_set1_epi8(0x0f);
  const __m512i low = p < 2 ? ql : _mm512_srli_epi16(ql, 4);
  // Bits 2p, 2p + 1 of each byte to bits 4, 5 (shifts by at most 4 stay in the byte).
  __m512i high;
  switch (p) {
    case 0:
      high = _mm512_slli_epi16(qh, 4);
      break;
    case 1:
      high = _mm512_slli_epi16(qh, 2);
      break;
    case 2:
      high = qh;
      break;
    default:
      high = _mm512_srli_epi16(qh, 2);
      break;
  }
  // m4 ? low : high (0xca selects bitwise), then & 0x3f.
  return _mm512_and_si512(_mm512_ternarylogic_epi32(m4, low, high, 0xca), _mm512_set1_epi8(0x3f));
}

void BuildPanel(const unsigned char* const rows[kRows], size_t block, Panel* p) {
  LoadScales(rows, block, &p->s);
  __m512i qh[16];  // [8c + l]: qh dword 8c + l
  Load16x16(rows, block + kQhOffset, qh);
  for (int c = 0; c < 2; ++c) {
    __m512i ql[16];  // [8 (p % 2) + l]: ql dword 16c + 8 (p % 2) + l
    Load16x16(rows, block + kQlOffset + 64 * c, ql);
    for (int quarter = 0; quarter < 4; ++quarter) {
      for (int l = 0; l < 8; ++l) {
        p->q[32 * c + 8 * quarter + l] = Quants(ql[8 * (quarter % 2) + l], qh[8 * c + l], quarter);
      }
    }
  }
}

// Adds d_token * d * (sum - sum_j 32 sc[j] bsums[j]) of one token to acc[row].
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
// points at the super-block's Q8_K block of the first token.
template <int K>
void PanelBlock(const Panel& p, const unsigned char* act, size_t a_stride, float* acc) {
  const unsigned char* a[K];
  for (int c = 0; c < K; ++c) a[c] = act + c * a_stride + kActQsOffset;
  __m512i sum[K];
  for (int c = 0; c < K; ++c) sum[c] = _mm512_setzero_si512();
#pragma GCC unroll 16
  for (int g = 0; g < 16; ++g) {
    __m512i group[K];
    for (int c = 0; c < K; ++c) group[c] = _mm512_setzero_si512();
#pragma GCC unroll 4
    for (int i = 0; i < 4; ++i) {
      const int pos = 4 * g + i;
      const __m512i w = p.q[pos];
#pragma GCC unroll 8
      for (int c = 0; c < K; ++c) group[c] = DotBroadcast(group[c], w, a[c] + 4 * pos);
    }
#pragma GCC unroll 8
    for (int c = 0; c < K; ++c) {
      sum[c] = _mm512_add_epi32(sum[c], _mm512_mullo_epi32(group[c], p.s.sc[g]));
    }
  }
#pragma GCC unroll 8
  for (int c = 0; c < K; ++c) Finish(p.s, sum[c], a[c] - kActQsOffset, acc + kRows * c);
}

// The same for one token without a panel (decode): each unpacked vector goes
// straight into the dot products.
void DirectBlock(const unsigned char* const rows[kRows], size_t block, const unsigned char* act,
                 float* acc) {
  Scales s;
  LoadScales(rows, block, &s);
  const unsigned char* a = act + kActQsOffset;
  __m512i qh[16];
  Load16x16(rows, block + kQhOffset, qh);
  __m512i sum[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
  for (int c = 0; c < 2; ++c) {
    __m512i ql[16];
    Load16x16(rows, block + kQlOffset + 64 * c, ql);
#pragma GCC unroll 4
    for (int quarter = 0; quarter < 4; ++quarter) {
#pragma GCC unroll 2
      for (int l0 = 0; l0 < 8; l0 += 4) {
        const int g = 8 * c + 2 * quarter + l0 / 4;
        __m512i group[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
#pragma GCC unroll 4
        for (int l = l0; l < l0 + 4; ++l) {
          const __m512i w = Quants(ql[8 * (quarter % 2) + l], qh[8 * c + l], quarter);
          group[l % 2] = DotBroadcast(group[l % 2], w, a + 4 * (32 * c + 8 * quarter + l));
        }
        sum[g % 2] = _mm512_add_epi32(
            sum[g % 2], _mm512_mullo_epi32(_mm512_add_epi32(group[0], group[1]), s.sc[g]));
      }
    }
  }
  Finish(s, _mm512_add_epi32(sum[0], sum[1]), act, acc);
}

// Decode prefetches (PrefetchShare, simd_helpers_x86.h) a later tile's rows.
// Which tile: Q6_K rows of 4096 or more weights are long enough that the
// driver (matmul.cc) hands out one tile per task, so with two threads taking
// turns the next tile is usually the other thread's and the one after it
// this thread's next. Prefetching that one measured 29 GB/s for decode of
// 14336 x 4096 with two threads on the 2-core Zen 4 development machine (its
// memory bandwidth) against 19 GB/s for the next tile; one thread runs the
// same either way.
constexpr int kPrefetchTiles = 2;

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
    const size_t block = b * sizeof(BlockQ6_K);
    const unsigned char* act = ab + b * sizeof(BlockQ8_K);
    PrefetchShare(reinterpret_cast<uintptr_t>(wb) + kPrefetchTiles * kRows * w_stride,
                  kRows * w_stride, b, blocks);
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

extern const MatMulKernel kQ6_KAvx512Kernel = {
    Format::kQ6_K, Isa::kAvx512, ConvertActivationsQ8_KAvx2, ActivationRowBytesQ8_K, Tile,
    kRows,         kTileCols};

}  // namespace aiscore
