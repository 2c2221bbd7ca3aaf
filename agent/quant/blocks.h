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

// Q8_K: the activation format K-quant dot products use (never stored in
// files). w = d * qs[i]; bsums[j] = sum of qs[16j .. 16j+15].
struct BlockQ8_K {
  float d;                              // scale, f32
  int8_t qs[kSuperBlockSize];           // quants
  int16_t bsums[kSuperBlockSize / 16];  // sums of quants in groups of 16
};
static_assert(sizeof(BlockQ8_K) == 292);

// Unpacks the 6-bit scale and min of sub-block j (0..7) of a Q4_K block.
inline void UnpackQ4KScaleMin(int j, const uint8_t* scales, uint8_t* sc, uint8_t* m) {
  if (j < 4) {
    *sc = scales[j] & 63;
    *m = scales[j + 4] & 63;
  } else {
    *sc = (scales[j + 4] & 0xf) | ((scales[j - 4] >> 6) << 4);
    *m = (scales[j + 4] >> 4) | ((scales[j] >> 6) << 4);
  }
}

}  // namespace aiscore

#endif  // AISCORE_AGENT_QUANT_BLOCKS_H_
