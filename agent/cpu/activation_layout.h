// The activation layouts matmul kernels consume, with portable converters.
//
// F32 and F16 weights take activations as f32; Q8_0 weights take Q8_0
// blocks; Q4_K and Q2_K take Q8_K blocks (see agent/quant/blocks.h). SIMD
// kernels may bring faster converters, but must produce the same layout.
#ifndef AISCORE_AGENT_CPU_ACTIVATION_LAYOUT_H_
#define AISCORE_AGENT_CPU_ACTIVATION_LAYOUT_H_

#include <cstddef>
#include <cstdint>

namespace aiscore {

void ConvertActivationsF32(const float* x, int64_t cols, void* out);
size_t ActivationRowBytesF32(int64_t cols);
void ConvertActivationsQ8_0(const float* x, int64_t cols, void* out);
size_t ActivationRowBytesQ8_0(int64_t cols);
void ConvertActivationsQ8_K(const float* x, int64_t cols, void* out);
size_t ActivationRowBytesQ8_K(int64_t cols);

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_ACTIVATION_LAYOUT_H_
