#include "agent/cpu/activation_layout.h"

#include <cstring>
#include <utility>

#include "agent/quant/blocks.h"
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

void PairQ8_KBsums(void* row, int64_t cols) {
  auto* blocks = static_cast<BlockQ8_K*>(row);
  for (int64_t b = 0; b < cols / kSuperBlockSize; ++b) {
    int16_t* s = blocks[b].bsums;
    for (int k = 0; k < kSuperBlockSize / 64; ++k) std::swap(s[4 * k + 1], s[4 * k + 2]);
  }
}

}  // namespace aiscore
