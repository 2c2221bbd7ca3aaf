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

struct BlockQ8_0;

void ConvertActivationsF32(const float* x, int64_t cols, void* out);
size_t ActivationRowBytesF32(int64_t cols);
void ConvertActivationsQ8_0(const float* x, int64_t cols, void* out);
size_t ActivationRowBytesQ8_0(int64_t cols);
void ConvertActivationsQ8_K(const float* x, int64_t cols, void* out);
size_t ActivationRowBytesQ8_K(int64_t cols);
// Q8_0 with offset shares, the layout of the Q8_0 kernels that take weights
// offset to u8 (w + 128, for vpdpbusd: AVX-512, AVX-VNNI): the nb Q8_0
// blocks as ConvertActivationsQ8_0 writes them; then, from a multiple of 4
// bytes (Q8_0OffsetScalesAt), nb floats, each block's scale; then
// (Q8_0OffsetSharesAt) nb int32, 128 x the sum of each block's quants: what
// the weights' offset adds to the block's dot product.
size_t Q8_0OffsetScalesAt(int64_t nb);
size_t Q8_0OffsetSharesAt(int64_t nb);
size_t ActivationRowBytesQ8_0Offset(int64_t cols);
struct Q8_0OffsetRow {
  const BlockQ8_0* blocks;
  const float* scale;
  const int32_t* offset_share;
};
Q8_0OffsetRow Q8_0OffsetRowAt(const void* row, int64_t nb);
// Writes the scales and offset shares of a row of `cols` columns whose Q8_0
// blocks are written.
void AddQ8_0OffsetShares(void* row, int64_t cols);

// Q8_K with paired sums, the AVX-512 and AVX2 Q2_K kernels': in each block
// the 16 bsums in the order 0, 2, 1, 3, 4, 6, 5, 7, ..., so that dword 2k + j
// holds the sums of groups 4k + j and 4k + j + 2 (j < 2), as the kernel pairs
// its mins. Reorders a Q8_K row of `cols` columns in place.
void PairQ8_KBsums(void* row, int64_t cols);

// Q8_K with split sums, the AVX-VNNI Q2_K kernel's: in each block the 32 bytes
// of bsums hold the low bytes of the 16 sums (u8), then their high bytes
// (s8), so that sum g = 256 * high[g] + low[g] (|sum| <= 16 * 127 fits), and
// vpdpbusd takes four groups' bytes against their four 4-bit mins. Rewrites a
// Q8_K row of `cols` columns in place.
void SplitQ8_KBsums(void* row, int64_t cols);

#ifdef AISCORE_HAVE_X86_KERNELS
// AVX2 versions (activation_layout_avx2.cc), byte-identical to the portable
// converters. Call only where IsaSupported(Isa::kAvx2).
void ConvertActivationsQ8_KAvx2(const float* x, int64_t cols, void* out);
#endif

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_ACTIVATION_LAYOUT_H_
