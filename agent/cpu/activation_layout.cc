#include "agent/cpu/activation_layout.h"

#include <cstring>

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

}  // namespace aiscore
