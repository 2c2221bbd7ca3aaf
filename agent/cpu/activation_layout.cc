#include "agent/cpu/activation_layout.h"

#include <cstring>
#include <utility>

#include "agent/quant/blocks.h"
#include "agent/quant/fp16.h"
#include "agent/quant/reference.h"

namespace aiscore {

void ConvertActivationsF32(const float* x, int64_t cols, void* out) {
  std::memcpy(out, x, cols * sizeof(float));
}
size_t ActivationRowBytesF32(int64_t cols) { return cols * sizeof(float); }

void ConvertActivationsQ8_0(const float* x, int64_t cols, void* out) {
  QuantizeRowQ8_0(x, out, cols);
}
size_t ActivationRowBytesQ8_0(int64_t cols) { return cols / kQ8_0BlockSize * sizeof(BlockQ8_0); }

void ConvertActivationsQ8_K(const float* x, int64_t cols, void* out) {
  QuantizeRowQ8_K(x, static_cast<BlockQ8_K*>(out), cols);
}
size_t ActivationRowBytesQ8_K(int64_t cols) { return cols / kSuperBlockSize * sizeof(BlockQ8_K); }

size_t Q8_0OffsetScalesAt(int64_t nb) { return (nb * sizeof(BlockQ8_0) + 3) / 4 * 4; }
size_t Q8_0OffsetSharesAt(int64_t nb) { return Q8_0OffsetScalesAt(nb) + nb * sizeof(float); }
size_t ActivationRowBytesQ8_0Offset(int64_t cols) {
  const int64_t nb = cols / kQ8_0BlockSize;
  return Q8_0OffsetSharesAt(nb) + nb * sizeof(int32_t);
}

Q8_0OffsetRow Q8_0OffsetRowAt(const void* row, int64_t nb) {
  const auto* a = static_cast<const unsigned char*>(row);
  return {reinterpret_cast<const BlockQ8_0*>(a),
          reinterpret_cast<const float*>(a + Q8_0OffsetScalesAt(nb)),
          reinterpret_cast<const int32_t*>(a + Q8_0OffsetSharesAt(nb))};
}

void AddQ8_0OffsetShares(void* row, int64_t cols) {
  const int64_t nb = cols / kQ8_0BlockSize;
  auto* a = static_cast<unsigned char*>(row);
  const auto* blocks = reinterpret_cast<const BlockQ8_0*>(a);
  auto* scale = reinterpret_cast<float*>(a + Q8_0OffsetScalesAt(nb));
  auto* offset_share = reinterpret_cast<int32_t*>(a + Q8_0OffsetSharesAt(nb));
  for (int64_t b = 0; b < nb; ++b) {
    scale[b] = Fp16ToFp32(blocks[b].d);
    int32_t sum = 0;
    for (int8_t q : blocks[b].qs) sum += q;
    offset_share[b] = 128 * sum;
  }
}

void PairQ8_KBsums(void* row, int64_t cols) {
  auto* blocks = static_cast<BlockQ8_K*>(row);
  for (int64_t b = 0; b < cols / kSuperBlockSize; ++b) {
    int16_t* s = blocks[b].bsums;
    for (int k = 0; k < kSuperBlockSize / 64; ++k) std::swap(s[4 * k + 1], s[4 * k + 2]);
  }
}

void SplitQ8_KBsums(void* row, int64_t cols) {
  auto* blocks = static_cast<BlockQ8_K*>(row);
  constexpr int kGroups = kSuperBlockSize / 16;
  static_assert(sizeof(BlockQ8_K::bsums) == 2 * kGroups);
  for (int64_t b = 0; b < cols / kSuperBlockSize; ++b) {
    int16_t sums[kGroups];
    std::memcpy(sums, blocks[b].bsums, sizeof(sums));
    uint8_t split[2 * kGroups];
    for (int g = 0; g < kGroups; ++g) {
      const auto u = static_cast<uint16_t>(sums[g]);
      split[g] = static_cast<uint8_t>(u & 0xff);
      split[kGroups + g] = static_cast<uint8_t>(u >> 8);  // the s8 high byte's bits
    }
    std::memcpy(blocks[b].bsums, split, sizeof(split));
  }
}

}  // namespace aiscore
