// Portable reference quantizers and dequantizers, one pair per format.
//
// The dequantizers define what a block means: every SIMD and CUDA kernel is
// tested against them, and they are tested against FP64 arithmetic. The
// quantizers pick, per block, the scale (and min) that minimizes squared
// error over a small search; bounds on their error are in docs/formats.md
// and tested in tests/quant. All functions are pure and thread-safe.
#ifndef AISCORE_AGENT_QUANT_REFERENCE_H_
#define AISCORE_AGENT_QUANT_REFERENCE_H_

#include <cstdint>

#include "agent/quant/blocks.h"

namespace aiscore {

void QuantizeRowF32(const float* x, void* y, int64_t n);
void DequantizeRowF32(const void* x, float* y, int64_t n);
void QuantizeRowF16(const float* x, void* y, int64_t n);
void DequantizeRowF16(const void* x, float* y, int64_t n);
void QuantizeRowQ8_0(const float* x, void* y, int64_t n);
void DequantizeRowQ8_0(const void* x, float* y, int64_t n);
void QuantizeRowQ4_K(const float* x, void* y, int64_t n);
void DequantizeRowQ4_K(const void* x, float* y, int64_t n);
void QuantizeRowQ2_K(const float* x, void* y, int64_t n);
void DequantizeRowQ2_K(const void* x, float* y, int64_t n);
void QuantizeRowQ6_K(const float* x, void* y, int64_t n);
void DequantizeRowQ6_K(const void* x, float* y, int64_t n);
void QuantizeRowQ3_K(const float* x, void* y, int64_t n);
void DequantizeRowQ3_K(const void* x, float* y, int64_t n);

// Activation quantizer for K-quant dot products: per 256 values, scale so the
// largest magnitude maps to 127 (sign preserved as ggml does), bsums filled.
void QuantizeRowQ8_K(const float* x, BlockQ8_K* y, int64_t n);

}  // namespace aiscore

#endif  // AISCORE_AGENT_QUANT_REFERENCE_H_
