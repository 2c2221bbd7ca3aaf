// The activation layouts matmul kernels consume, with portable converters.
//
// F32 and F16 weights take activations as f32; Q8_0 weights take Q8_0
// blocks; the K-quants (Q4_K, Q2_K, Q6_K, Q3_K) take Q8_K blocks (see
// agent/quant/blocks.h). SIMD
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

#ifdef AISCORE_HAVE_X86_KERNELS
// AVX2 versions (activation_layout_avx2.cc), byte-identical to the portable
// converters. Call only where IsaSupported(Isa::kAvx2).
void ConvertActivationsQ8_KAvx2(const float* x, int64_t cols, void* out);
#endif

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_ACTIVATION_LAYOUT_H_
