// The synthetic-weight generator's inner pieces, one definition for the host
// (synthetic_weights.cc) and the GPU (agent/cuda/synthesize.cu), which must
// write the same bytes. docs/synthetic.md defines the generator in prose.
//
// A block's bytes come from a counter-based stream of 64-bit words keyed by
// (seed, tensor index, block index), so any block can be made on its own,
// on any thread. Float arithmetic here is plain IEEE single precision with
// one rounding per operation: the GPU side compiles these functions with
// AISCORE_HOST_DEVICE (agent/quant/host_device.h) and must not contract
// them, so every product and quotient goes through Mul/Div below.
#ifndef AISCORE_AGENT_ENGINE_SYNTHETIC_BLOCK_H_
#define AISCORE_AGENT_ENGINE_SYNTHETIC_BLOCK_H_

#include <cstdint>

#include "agent/quant/blocks.h"
#include "agent/quant/format.h"
#include "agent/quant/fp16.h"
#include "agent/quant/host_device.h"

namespace aiscore::synthetic {

// SplitMix64's finalizer: a bijective 64-bit mix.
AISCORE_HOST_DEVICE inline uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The start of a block's stream.
AISCORE_HOST_DEVICE inline uint64_t BlockKey(uint64_t seed, uint64_t tensor_index,
                                             uint64_t block_index) {
  return Mix(Mix(seed ^ Mix(tensor_index + 1)) + block_index);
}

// Word i (1, 2, ...) of the stream that starts at `key`.
AISCORE_HOST_DEVICE inline uint64_t Word(uint64_t key, uint64_t i) {
  return Mix(key + 0x9e3779b97f4a7c15ull * i);
}

// Single-precision operations, each rounded once (volatile keeps a compiler
// from fusing a product into a following addition).
AISCORE_HOST_DEVICE inline float Mul(float a, float b) {
  volatile float r = a * b;
  return r;
}
AISCORE_HOST_DEVICE inline float Div(float a, float b) {
  volatile float r = a / b;
  return r;
}

// F16/F32 values: 4096 evenly spaced levels over [-a, a] with a = sqrt(3) *
// stddev (a uniform distribution of that deviation), 12 bits per value.
inline constexpr int kLevels = 4096;
AISCORE_HOST_DEVICE inline float Level(int index, float stddev) {
  // (2i + 1 - 4096) / 4096 is exact in float; one rounding in the product.
  return Mul(Div(static_cast<float>(2 * index + 1 - kLevels), static_cast<float>(kLevels)),
             Mul(1.7320508f, stddev));
}

// Value j (0..4) of a 12-bit-per-value stream word.
AISCORE_HOST_DEVICE inline int LevelIndex(uint64_t word, int j) {
  return static_cast<int>((word >> (12 * j)) & 0xfff);
}

// Writes `n` bytes (a multiple of 8) from words first, first + 1, ... of the
// stream, each little-endian.
AISCORE_HOST_DEVICE inline void FillBytes(uint64_t key, uint64_t first, uint8_t* out, int n) {
  for (int i = 0; i < n; i += 8) {
    const uint64_t q = Word(key, first + i / 8);
    for (int b = 0; b < 8; ++b) out[i + b] = static_cast<uint8_t>(q >> (8 * b));
  }
}

// One block of a quantized format whose values should have standard
// deviation `stddev`, from the stream starting at `key`. Returns false for
// plain formats (F32, F16), which are made value by value (Level).
AISCORE_HOST_DEVICE inline bool WriteBlock(Format format, float stddev, uint64_t key,
                                           uint8_t* block) {
  switch (format) {
    case Format::kF32:
    case Format::kF16:
      return false;
    case Format::kQ8_0: {
      // q uniform in [-127, 127] (std 73.6), d spread over [0.75, 1.25) of nominal.
      auto* b = reinterpret_cast<BlockQ8_0*>(block);
      const uint64_t r0 = Word(key, 1);
      b->d =
          Fp32ToFp16(Mul(Div(stddev, 73.6f), 0.75f + Div(static_cast<float>(r0 & 0xff), 512.0f)));
      for (int i = 0; i < kQ8_0BlockSize; i += 8) {
        uint64_t r = Word(key, 2 + i / 8);
        for (int j = 0; j < 8; ++j, r >>= 8) {
          const int v = static_cast<int>(r & 0xff) - 128;
          b->qs[i + j] = static_cast<int8_t>(v == -128 ? -127 : v);
        }
      }
      return true;
    }
    case Format::kQ4_K: {
      // q uniform 0..15 (mean 7.5, std 4.61); scales 32..63; mins chosen so
      // each sub-block is centred: m = round(sc * 7.5 / 8) with dmin = 8 d.
      auto* b = reinterpret_cast<BlockQ4_K*>(block);
      const float d = Div(stddev, Mul(4.61f, 47.5f));
      b->d = Fp32ToFp16(d);
      b->dmin = Fp32ToFp16(Mul(8.0f, d));
      uint64_t r = Word(key, 1);
      for (int i = 0; i < kQ4KScaleBytes; ++i) b->scales[i] = 0;
      for (int j = 0; j < 8; ++j, r >>= 5) {
        const uint8_t sc = static_cast<uint8_t>(32 + (r & 31));
        const uint8_t m = static_cast<uint8_t>((sc * 15 + 8) / 16);  // round(sc * 7.5 / 8)
        if (j < 4) {
          b->scales[j] = sc;
          b->scales[j + 4] = m;
        } else {
          b->scales[j + 4] = static_cast<uint8_t>((sc & 0xf) | ((m & 0xf) << 4));
          b->scales[j - 4] |= static_cast<uint8_t>((sc >> 4) << 6);
          b->scales[j] |= static_cast<uint8_t>((m >> 4) << 6);
        }
      }
      FillBytes(key, 2, b->qs, sizeof(b->qs));
      return true;
    }
    case Format::kQ2_K: {
      // q uniform 0..3 (mean 1.5, std 1.118); scales 8..15; m = round(sc * 3 / 4)
      // with dmin = 2 d centres each group.
      auto* b = reinterpret_cast<BlockQ2_K*>(block);
      const float d = Div(stddev, Mul(1.118f, 11.5f));
      b->d = Fp32ToFp16(d);
      b->dmin = Fp32ToFp16(Mul(2.0f, d));
      uint64_t r = Word(key, 1);
      for (int j = 0; j < 16; ++j, r >>= 3) {
        const uint8_t sc = static_cast<uint8_t>(8 + (r & 7));
        const uint8_t m = static_cast<uint8_t>((sc * 3 + 2) / 4);
        b->scales[j] = static_cast<uint8_t>(sc | (m << 4));
      }
      FillBytes(key, 2, b->qs, sizeof(b->qs));
      return true;
    }
    case Format::kQ6_K: {
      // q uniform -32..31 (rms 18.48); scales +-(96..124 in steps of 4) with
      // random signs (rms 110.38), so each tensor's mean is about zero.
      auto* b = reinterpret_cast<BlockQ6_K*>(block);
      b->d = Fp32ToFp16(Div(stddev, Mul(18.48f, 110.38f)));
      uint64_t r = Word(key, 1);
      for (int j = 0; j < 16; ++j, r >>= 4) {
        const int magnitude = 96 + 4 * static_cast<int>(r & 7);
        b->scales[j] = static_cast<int8_t>((r & 8) ? -magnitude : magnitude);
      }
      FillBytes(key, 2, b->ql, sizeof(b->ql));
      FillBytes(key, 2 + sizeof(b->ql) / 8, b->qh, sizeof(b->qh));
      return true;
    }
    case Format::kQ3_K: {
      // q uniform -4..3 (rms 2.345); scales +-(16..30 in steps of 2) with random
      // signs (rms 23.45), stored as code = 32 + scale.
      auto* b = reinterpret_cast<BlockQ3_K*>(block);
      b->d = Fp32ToFp16(Div(stddev, Mul(2.345f, 23.45f)));
      uint64_t r = Word(key, 1);
      uint8_t codes[16];
      for (int j = 0; j < 16; ++j, r >>= 4) {
        const int magnitude = 16 + 2 * static_cast<int>(r & 7);
        codes[j] = static_cast<uint8_t>(32 + ((r & 8) ? -magnitude : magnitude));
      }
      PackQ3KScales(codes, b->scales);
      FillBytes(key, 2, b->hmask, sizeof(b->hmask));
      FillBytes(key, 2 + sizeof(b->hmask) / 8, b->qs, sizeof(b->qs));
      return true;
    }
  }
  return false;
}

}  // namespace aiscore::synthetic

#endif  // AISCORE_AGENT_ENGINE_SYNTHETIC_BLOCK_H_
