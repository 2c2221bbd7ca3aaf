// Block layouts of the quantized weight formats, byte for byte as GGUF (ggml)
// stores them, so that files interoperate with llama.cpp and Ollama.
//
// Each format: a block struct, a block-size constant and a static_assert on
// its size. All multi-byte fields are little-endian; `uint16_t` scale fields
// hold IEEE binary16 bits (see fp16.h). Dequantized value definitions live in
// reference.h; docs/formats.md describes the layouts in prose.
#ifndef AISCORE_AGENT_QUANT_BLOCKS_H_
#define AISCORE_AGENT_QUANT_BLOCKS_H_

#include <cstdint>

#include "agent/quant/host_device.h"

namespace aiscore {

// Q8_0: 32 weights, w = d * qs[i].
inline constexpr int kQ8_0BlockSize = 32;
struct BlockQ8_0 {
  uint16_t d;                 // scale, f16
  int8_t qs[kQ8_0BlockSize];  // quants
};
static_assert(sizeof(BlockQ8_0) == 34);

// K-quant super-blocks hold 256 weights.
inline constexpr int kSuperBlockSize = 256;
inline constexpr int kQ4KScaleBytes = 12;
inline constexpr int kQ3KScaleBytes = 12;

// Q4_K: 8 sub-blocks of 32 weights, w = d * sc[j] * q - dmin * m[j], with
// 6-bit sc and m packed into `scales` (see UnpackQ4KScaleMin) and 4-bit q.
// qs[32*c + l] holds weight 64*c + l in its low nibble and 64*c + 32 + l in
// its high nibble.
struct BlockQ4_K {
  uint16_t d;                       // super-block scale for the sub-block scales, f16
  uint16_t dmin;                    // super-block scale for the sub-block mins, f16
  uint8_t scales[kQ4KScaleBytes];   // 8 scales and 8 mins, 6 bits each
  uint8_t qs[kSuperBlockSize / 2];  // 4-bit quants
};
static_assert(sizeof(BlockQ4_K) == 144);

// Q2_K: 16 sub-blocks of 16 weights, w = d * (scales[j] & 15) * q -
// dmin * (scales[j] >> 4), q in 0..3. qs[32*c + l] holds, in bit pairs 0..3,
// weights 128*c + 32*p + l for p = 0..3.
struct BlockQ2_K {
  uint8_t scales[kSuperBlockSize / 16];  // low nibble: scale, high nibble: min
  uint8_t qs[kSuperBlockSize / 4];       // 2-bit quants
  uint16_t d;                            // super-block scale for the scales, f16
  uint16_t dmin;                         // super-block scale for the mins, f16
};
static_assert(sizeof(BlockQ2_K) == 84);

// Q3_K: 16 sub-blocks of 16 weights, w = d * (sc[j] - 32) * q, j = i / 16,
// with 6-bit sc packed into `scales` (see UnpackQ3KScale) and q in -4..3.
// Weight 128*c + 32*p + l (c = 0, 1; p = 0..3; l = 0..31) has its low two
// bits (q + 4 bits 0-1) in bit pair p of qs[32*c + l] and its high bit (q + 4
// bit 2) in bit 4*c + p of hmask[l].
struct BlockQ3_K {
  uint8_t hmask[kSuperBlockSize / 8];  // high bit of q + 4
  uint8_t qs[kSuperBlockSize / 4];     // low two bits of q + 4
  uint8_t scales[kQ3KScaleBytes];      // 16 scales, 6 bits each, offset by 32
  uint16_t d;                          // super-block scale for the scales, f16
};
static_assert(sizeof(BlockQ3_K) == 110);

// Q6_K: 16 sub-blocks of 16 weights, w = d * scales[j] * q, j = i / 16, q in
// -32..31. Weight 128*c + 32*p + l (c = 0, 1; p = 0..3; l = 0..31) has its
// low four bits (q + 32 bits 0-3) in nibble p / 2 of ql[64*c + 32*(p % 2) + l]
// and its high two bits (q + 32 bits 4-5) in bit pair p of qh[32*c + l].
struct BlockQ6_K {
  uint8_t ql[kSuperBlockSize / 2];      // low four bits of q + 32
  uint8_t qh[kSuperBlockSize / 4];      // high two bits of q + 32
  int8_t scales[kSuperBlockSize / 16];  // sub-block scales, signed
  uint16_t d;                           // super-block scale for the scales, f16
};
static_assert(sizeof(BlockQ6_K) == 210);

// Q8_K: the activation format K-quant dot products use (never stored in
// files). w = d * qs[i]; bsums[j] = sum of qs[16j .. 16j+15].
struct BlockQ8_K {
  float d;                              // scale, f32
  int8_t qs[kSuperBlockSize];           // quants
  int16_t bsums[kSuperBlockSize / 16];  // sums of quants in groups of 16
};
static_assert(sizeof(BlockQ8_K) == 292);

// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
AISCORE_HOST_DEVICE inline void UnpackQ4KScaleMin(int j, const uint8_t* scales, uint8_t* sc,
                                                  uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = (scales[j + 4] & 0xf) | ((scales[j - 4] >> 6) << 4);
    *m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
  }
}

// The 6-bit scale code (0..63; the scale is code - 32) of sub-block j (0..15)
// of a Q3_K block: the low four bits are nibble j / 8 of scales[j % 8], the
// high two bits are bit pair j / 4 of scales[8 + j % 4].
AISCORE_HOST_DEVICE inline uint8_t UnpackQ3KScale(int j, const uint8_t* scales) {
  return ((scales[j % 8] >> (4 * (j / 8))) & 0xf) |
         (((scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
}

// Packs 16 6-bit scale codes as UnpackQ3KScale reads them.
AISCORE_HOST_DEVICE inline void PackQ3KScales(const uint8_t codes[16], uint8_t* scales) {
  for (int i = 0; i < kQ3KScaleBytes; ++i) scales[i] = 0;
  for (int j = 0; j < 16; ++j) {
    scales[j % 8] |= (codes[j] & 0xf) << (4 * (j / 8));
    scales[8 + j % 4] |= (codes[j] >> 4) << (2 * (j / 4));
  }
}

}  // namespace aiscore

#endif  // AISCORE_AGENT_QUANT_BLOCKS_H_
