#include "agent/engine/synthetic_weights.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstring>
#include <thread>
#include <vector>

#include "agent/engine/synthetic_block.h"
#include "agent/quant/fp16.h"

namespace aiscore {

void SynthesizeValues(Format format, float stddev, uint64_t key, void* out, int64_t count) {
  // The 4096 levels in the output format, then five 12-bit indices per stream word.
  std::array<float, synthetic::kLevels> f32;
  std::array<uint16_t, synthetic::kLevels> f16;
  for (int i = 0; i < synthetic::kLevels; ++i) {
    f32[i] = synthetic::Level(i, stddev);
    f16[i] = Fp32ToFp16(f32[i]);
  }
  auto fill = [&](auto* dst, const auto& table) {
    for (int64_t i = 0, word = 1; i < count; ++word) {
      const uint64_t r = synthetic::Word(key, word);
      for (int j = 0; j < 5 && i < count; ++j, ++i) dst[i] = table[synthetic::LevelIndex(r, j)];
    }
  };
  if (format == Format::kF16) {
    fill(static_cast<uint16_t*>(out), f16);
  } else {
    fill(static_cast<float*>(out), f32);
  }
}

SyntheticTensorPlan SyntheticPlan(const ModelWeights& w, const WeightTensor& x) {
  if (x.rows == 1 && x.format == Format::kF32) return {1.0f, true};  // norm weights
  if (&x == &w.token_embd) return {1.0f, false};
  return {static_cast<float>(1.0 / std::sqrt(static_cast<double>(x.cols))), false};
}

uint64_t SyntheticBlockKey(uint64_t seed, uint64_t tensor_index, uint64_t block_index) {
  return synthetic::BlockKey(seed, tensor_index, block_index);
}

void SynthesizeBlock(Format format, float stddev, uint64_t key, void* block) {
  if (!synthetic::WriteBlock(format, stddev, key, static_cast<uint8_t*>(block))) {
    SynthesizeValues(format, stddev, key, block, 1);
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
        const SyntheticTensorPlan plan = SyntheticPlan(w, x);
        if (plan.ones) {
          std::fill_n(reinterpret_cast<float*>(out) + begin, count, 1.0f);
        } else {
          SynthesizeValues(x.format, plan.stddev, SyntheticBlockKey(seed, it.tensor, it.first),
                           out + begin * tr.block_bytes, count);
        }
        continue;
      }
      const float stddev = SyntheticPlan(w, x).stddev;
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

absl::StatusOr<ModelWeights> SynthesizeWeightsFor(Backend& backend, const ModelConfig& config,
                                                  Format format, uint64_t seed) {
  absl::StatusOr<ModelWeights> on_device = backend.SynthesizeOnDevice(config, format, seed);
  if (!absl::IsUnimplemented(on_device.status())) return on_device;
  return SynthesizeWeights(config, format, seed);
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
