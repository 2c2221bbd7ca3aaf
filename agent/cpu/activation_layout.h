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
// Q8_K with paired sums, the AVX-512 Q2_K kernel's: in each block the 16
// bsums in the order 0, 2, 1, 3, 4, 6, 5, 7, ..., so that dword 2k + j holds
// the sums of groups 4k + j and 4k + j + 2 (j < 2), as the kernel pairs its
// mins. Reorders a Q8_K row of `cols` columns in place.
void PairQ8_KBsums(void* row, int64_t cols);

#ifdef AISCORE_HAVE_X86_KERNELS
// AVX2 versions (activation_layout_avx2.cc), byte-identical to the portable
// converters. Call only where IsaSupported(Isa::kAvx2).
void ConvertActivationsQ8_KAvx2(const float* x, int64_t cols, void* out);
#endif

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_ACTIVATION_LAYOUT_H_
