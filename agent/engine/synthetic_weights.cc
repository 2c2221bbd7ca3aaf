#include "agent/engine/synthetic_weights.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "agent/quant/blocks.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

// SplitMix64's finalizer: a bijective 64-bit mix.
uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// The i-th 64-bit word of a block's stream.
struct Stream {
  uint64_t key;
  uint64_t i = 0;
  uint64_t Next() { return Mix(key + 0x9e3779b97f4a7c15ull * ++i); }
};

// F16/F32 values: 4096 evenly spaced levels over [-a, a] with a = sqrt(3) *
// stddev (a uniform distribution of that deviation), 12 bits per value.
constexpr int kLevels = 4096;
float Level(int index, float stddev) {
  const float a = 1.7320508f * stddev;
  // (2i + 1 - 4096) / 4096 is exact in float; one rounding in the product.
  return static_cast<float>(2 * index + 1 - kLevels) / kLevels * a;
}

// Fills `n` bytes (a multiple of 8) with the next n / 8 words of the
// stream, each little-endian.
void FillBytes(Stream* s, uint8_t* out, size_t n) {
  for (size_t i = 0; i < n; i += 8) {
    const uint64_t q = s->Next();
    std::memcpy(out + i, &q, 8);
  }
}

}  // namespace

void SynthesizeValues(Format format, float stddev, uint64_t key, void* out, int64_t count) {
  // The 4096 levels in the output format, then five 12-bit indices per stream word.
  std::array<float, kLevels> f32;
  std::array<uint16_t, kLevels> f16;
  for (int i = 0; i < kLevels; ++i) {
    f32[i] = Level(i, stddev);
    f16[i] = Fp32ToFp16(f32[i]);
  }
  Stream s{key};
  auto fill = [&](auto* dst, const auto& table) {
    int64_t i = 0;
    for (; i + 5 <= count; i += 5) {
      const uint64_t r = s.Next();
      dst[i] = table[r & 0xfff];
      dst[i + 1] = table[(r >> 12) & 0xfff];
      dst[i + 2] = table[(r >> 24) & 0xfff];
      dst[i + 3] = table[(r >> 36) & 0xfff];
      dst[i + 4] = table[(r >> 48) & 0xfff];
    }
    for (uint64_t r = s.Next(); i < count; ++i, r >>= 12) dst[i] = table[r & 0xfff];
  };
  if (format == Format::kF16) {
    fill(static_cast<uint16_t*>(out), f16);
  } else {
    fill(static_cast<float*>(out), f32);
  }
}

uint64_t SyntheticBlockKey(uint64_t seed, uint64_t tensor_index, uint64_t block_index) {
  return Mix(Mix(seed ^ Mix(tensor_index + 1)) + block_index);
}

void SynthesizeBlock(Format format, float stddev, uint64_t key, void* block) {
  Stream s{key};
  switch (format) {
    case Format::kF32:
    case Format::kF16:
      SynthesizeValues(format, stddev, key, block, 1);
      return;
    case Format::kQ8_0: {
      // q uniform in [-127, 127] (std 73.6), d spread over [0.75, 1.25) of nominal.
      auto* b = static_cast<BlockQ8_0*>(block);
      const uint64_t r0 = s.Next();
      b->d = Fp32ToFp16(stddev / 73.6f * (0.75f + static_cast<float>(r0 & 0xff) / 512.0f));
      for (int i = 0; i < kQ8_0BlockSize; i += 8) {
        uint64_t r = s.Next();
        for (int j = 0; j < 8; ++j, r >>= 8) {
          const int v = static_cast<int>(r & 0xff) - 128;
          b->qs[i + j] = static_cast<int8_t>(v == -128 ? -127 : v);
        }
      }
      return;
    }
    case Format::kQ4_K: {
      // q uniform 0..15 (mean 7.5, std 4.61); scales 32..63; mins chosen so
      // each sub-block is centred: m = round(sc * 7.5 / 8) with dmin = 8 d.
      auto* b = static_cast<BlockQ4_K*>(block);
      const float d = stddev / (4.61f * 47.5f);
      b->d = Fp32ToFp16(d);
      b->dmin = Fp32ToFp16(8.0f * d);
      uint64_t r = s.Next();
      std::memset(b->scales, 0, sizeof(b->scales));
      for (int j = 0; j < 8; ++j, r >>= 5) {
        const uint8_t sc = 32 + (r & 31);
        const uint8_t m = static_cast<uint8_t>((sc * 15 + 8) / 16);  // round(sc * 7.5 / 8)
        if (j < 4) {
          b->scales[j] = sc;
          b->scales[j + 4] = m;
        } else {
          b->scales[j + 4] = (sc & 0xf) | ((m & 0xf) << 4);
          b->scales[j - 4] |= (sc >> 4) << 6;
          b->scales[j] |= (m >> 4) << 6;
        }
      }
      FillBytes(&s, b->qs, sizeof(b->qs));
      return;
    }
    case Format::kQ2_K: {
      // q uniform 0..3 (mean 1.5, std 1.118); scales 8..15; m = round(sc * 3 / 4)
      // with dmin = 2 d centres each group.
      auto* b = static_cast<BlockQ2_K*>(block);
      const float d = stddev / (1.118f * 11.5f);
      b->d = Fp32ToFp16(d);
      b->dmin = Fp32ToFp16(2.0f * d);
      uint64_t r = s.Next();
      for (int j = 0; j < 16; ++j, r >>= 3) {
        const uint8_t sc = 8 + (r & 7);
        const uint8_t m = static_cast<uint8_t>((sc * 3 + 2) / 4);
        b->scales[j] = sc | (m << 4);
      }
      FillBytes(&s, b->qs, sizeof(b->qs));
      return;
    }
    case Format::kQ6_K: {
      // q uniform -32..31 (rms 18.48); scales +-(96..124 in steps of 4) with
      // random signs (rms 110.38), so each tensor's mean is about zero.
      auto* b = static_cast<BlockQ6_K*>(block);
      b->d = Fp32ToFp16(stddev / (18.48f * 110.38f));
      uint64_t r = s.Next();
      for (int j = 0; j < 16; ++j, r >>= 4) {
        const int magnitude = 96 + 4 * static_cast<int>(r & 7);
        b->scales[j] = static_cast<int8_t>((r & 8) ? -magnitude : magnitude);
      }
      FillBytes(&s, b->ql, sizeof(b->ql));
      FillBytes(&s, b->qh, sizeof(b->qh));
      return;
    }
    case Format::kQ3_K: {
      // q uniform -4..3 (rms 2.345); scales +-(16..30 in steps of 2) with random
      // signs (rms 23.45), stored as code = 32 + scale.
      auto* b = static_cast<BlockQ3_K*>(block);
      b->d = Fp32ToFp16(stddev / (2.345f * 23.45f));
      uint64_t r = s.Next();
      uint8_t codes[16];
      for (int j = 0; j < 16; ++j, r >>= 4) {
        const int magnitude = 16 + 2 * static_cast<int>(r & 7);
        codes[j] = static_cast<uint8_t>(32 + ((r & 8) ? -magnitude : magnitude));
      }
      PackQ3KScales(codes, b->scales);
      FillBytes(&s, b->hmask, sizeof(b->hmask));
      FillBytes(&s, b->qs, sizeof(b->qs));
      return;
    }
  }
}

absl::StatusOr<ModelWeights> SynthesizeWeights(const ModelConfig& config, Format format,
                                               uint64_t seed, int threads) {
  absl::StatusOr<ModelWeights> allocated = AllocateWeights(config, format);
  if (!allocated.ok()) return allocated.status();
  ModelWeights w = *std::move(allocated);
  std::vector<WeightTensor*> tensors = w.MutableTensors();

  // Work items: (tensor, first block, block count), about 1 MiB each.
  struct Item {
    size_t tensor;
    int64_t first, count;
  };
  std::vector<Item> items;
  for (size_t t = 0; t < tensors.size(); ++t) {
    const WeightTensor& x = *tensors[t];
    const FormatTraits& tr = Traits(x.format);
    const bool plain = tr.block_size == 1;
    const int64_t blocks =
        plain ? (x.elements() + kSyntheticRun - 1) / kSyntheticRun : x.elements() / tr.block_size;
    const int64_t per_item = plain ? 1 : std::max<int64_t>(1, (1 << 20) / tr.block_bytes);
    for (int64_t b = 0; b < blocks; b += per_item) {
      items.push_back({t, b, std::min(per_item, blocks - b)});
    }
  }
  auto stddev_of = [&](const WeightTensor& x) {
    if (&x == &w.token_embd) return 1.0f;
    return static_cast<float>(1.0 / std::sqrt(static_cast<double>(x.cols)));
  };
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < items.size(); i = next++) {
      const Item& it = items[i];
      WeightTensor& x = *tensors[it.tensor];
      const FormatTraits& tr = Traits(x.format);
      auto* out = static_cast<unsigned char*>(const_cast<void*>(x.data));
      if (tr.block_size == 1) {  // F16/F32: item = one run of values.
        const int64_t begin = it.first * kSyntheticRun;
        const int64_t count = std::min(kSyntheticRun, x.elements() - begin);
        if (x.rows == 1 && x.format == Format::kF32) {  // Norm weights: all ones.
          std::fill_n(reinterpret_cast<float*>(out) + begin, count, 1.0f);
        } else {
          SynthesizeValues(x.format, stddev_of(x), SyntheticBlockKey(seed, it.tensor, it.first),
                           out + begin * tr.block_bytes, count);
        }
        continue;
      }
      const float stddev = stddev_of(x);
      for (int64_t b = it.first; b < it.first + it.count; ++b) {
        SynthesizeBlock(x.format, stddev, SyntheticBlockKey(seed, it.tensor, b),
                        out + b * tr.block_bytes);
      }
    }
  };
  const int n = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> pool;
  for (int t = 1; t < n; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
  return w;
}

std::vector<int32_t> SyntheticTokens(int64_t n, int64_t vocab, uint64_t seed) {
  std::vector<int32_t> tokens(n);
  uint64_t x = seed;
  for (int32_t& t : tokens) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    t = static_cast<int32_t>((x >> 33) % static_cast<uint64_t>(vocab));
  }
  return tokens;
}

}  // namespace aiscore
