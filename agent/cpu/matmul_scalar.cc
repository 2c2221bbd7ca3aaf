// Portable scalar matmul kernels: the baseline every SIMD kernel is tested
// against (beside the FP64 reference) and the path on CPUs without AVX2.
#include <array>
#include <cstring>

#include "agent/cpu/activation_layout.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/quant/blocks.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

const std::array<float, 65536>& HalfTable() {
  static const std::array<float, 65536> table = [] {
    std::array<float, 65536> t{};
    for (uint32_t i = 0; i < 65536; ++i) t[i] = Fp16ToFp32(static_cast<uint16_t>(i));
    return t;
  }();
  return table;
}

float DotF32(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const float*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += x[i] * y[i];
  return sum;
}

float DotF16(int64_t n, const void* w, const void* a) {
  const auto& half = HalfTable();
  const auto* x = static_cast<const uint16_t*>(w);
  const auto* y = static_cast<const float*>(a);
  float sum = 0.0f;
  for (int64_t i = 0; i < n; ++i) sum += half[x[i]] * y[i];
  return sum;
}

float DotQ8_0(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ8_0*>(w);
  const auto* y = static_cast<const BlockQ8_0*>(a);
  const auto& half = HalfTable();
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    int32_t acc = 0;
    for (int i = 0; i < kQ8_0BlockSize; ++i) acc += x[b].qs[i] * y[b].qs[i];
    sum += half[x[b].d] * half[y[b].d] * static_cast<float>(acc);
  }
  return sum;
}

float DotQ4_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ4_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const auto& half = HalfTable();
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b) {
    int32_t scaled = 0, mins = 0;
    for (int j = 0; j < 8; ++j) {
      uint8_t sc, m;
      UnpackQ4KScaleMin(j, x[b].scales, &sc, &m);
      const uint8_t* q = x[b].qs + 32 * (j / 2);
      const int shift = 4 * (j % 2);
      const int8_t* v = y[b].qs + 32 * j;
      int32_t acc = 0;
      for (int l = 0; l < 32; ++l) acc += ((q[l] >> shift) & 0xf) * v[l];
      scaled += sc * acc;
      mins += m * (y[b].bsums[2 * j] + y[b].bsums[2 * j + 1]);
    }
    sum += y[b].d *
           (half[x[b].d] * static_cast<float>(scaled) - half[x[b].dmin] * static_cast<float>(mins));
  }
  return sum;
}

float DotQ2_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ2_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const auto& half = HalfTable();
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b) {
    int32_t scaled = 0, mins = 0;
    for (int j = 0; j < 16; ++j) {
      const uint8_t sc = x[b].scales[j];
      // Group j covers weights 16j..16j+15: chunk c = j / 8, bit pair p = (j % 8) / 2,
      // byte half h = j % 2.
      const uint8_t* q = x[b].qs + 32 * (j / 8) + 16 * (j % 2);
      const int shift = 2 * ((j % 8) / 2);
      const int8_t* v = y[b].qs + 16 * j;
      int32_t acc = 0;
      for (int l = 0; l < 16; ++l) acc += ((q[l] >> shift) & 3) * v[l];
      scaled += (sc & 0xf) * acc;
      mins += (sc >> 4) * y[b].bsums[j];
    }
    sum += y[b].d *
           (half[x[b].d] * static_cast<float>(scaled) - half[x[b].dmin] * static_cast<float>(mins));
  }
  return sum;
}

float DotQ6_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ6_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const auto& half = HalfTable();
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b) {
    int32_t scaled = 0;
    for (int j = 0; j < 16; ++j) {
      // Group j covers weights 16j..16j+15: chunk c = j / 8, quarter p = (j % 8) / 2.
      const int c = j / 8, p = (j % 8) / 2, l0 = 16 * (j % 2);
      const uint8_t* ql = x[b].ql + 64 * c + 32 * (p % 2);
      const uint8_t* qh = x[b].qh + 32 * c;
      const int8_t* v = y[b].qs + 16 * j;
      int32_t acc = 0;
      for (int l = 0; l < 16; ++l) {
        const int q =
            (((ql[l0 + l] >> (4 * (p / 2))) & 0xf) | (((qh[l0 + l] >> (2 * p)) & 3) << 4)) - 32;
        acc += q * v[l];
      }
      scaled += x[b].scales[j] * acc;
    }
    sum += y[b].d * (half[x[b].d] * static_cast<float>(scaled));
  }
  return sum;
}

float DotQ3_K(int64_t n, const void* w, const void* a) {
  const auto* x = static_cast<const BlockQ3_K*>(w);
  const auto* y = static_cast<const BlockQ8_K*>(a);
  const auto& half = HalfTable();
  float sum = 0.0f;
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b) {
    int32_t scaled = 0;
    for (int j = 0; j < 16; ++j) {
      // Group j covers weights 16j..16j+15: chunk c = j / 8, bit pair p = (j % 8) / 2.
      const int c = j / 8, p = (j % 8) / 2, l0 = 16 * (j % 2);
      const uint8_t* qs = x[b].qs + 32 * c;
      const int8_t* v = y[b].qs + 16 * j;
      int32_t acc = 0;
      for (int l = 0; l < 16; ++l) {
        const int low = (qs[l0 + l] >> (2 * p)) & 3;
        const int high = (x[b].hmask[l0 + l] >> (4 * c + p)) & 1;
        acc += ((low | high << 2) - 4) * v[l];
      }
      scaled += (UnpackQ3KScale(j, x[b].scales) - 32) * acc;
    }
    sum += y[b].d * (half[x[b].d] * static_cast<float>(scaled));
  }
  return sum;
}

template <float (*Dot)(int64_t, const void*, const void*)>
void Tile(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
          int nc, float* out, size_t out_stride) {
  const auto* wb = static_cast<const unsigned char*>(w);
  const auto* ab = static_cast<const unsigned char*>(a);
  for (int j = 0; j < nc; ++j) {
    for (int i = 0; i < nr; ++i) {
      out[j * out_stride + i] = Dot(cols, wb + i * w_stride, ab + j * a_stride);
    }
  }
}

}  // namespace

extern const MatMulKernel kF32ScalarKernel = {
    Format::kF32, Isa::kScalar, ConvertActivationsF32, ActivationRowBytesF32, Tile<DotF32>, 4, 4};
extern const MatMulKernel kF16ScalarKernel = {
    Format::kF16, Isa::kScalar, ConvertActivationsF32, ActivationRowBytesF32, Tile<DotF16>, 4, 4};
extern const MatMulKernel kQ8_0ScalarKernel = {Format::kQ8_0,
                                               Isa::kScalar,
                                               ConvertActivationsQ8_0,
                                               ActivationRowBytesQ8_0,
                                               Tile<DotQ8_0>,
                                               4,
                                               4};
extern const MatMulKernel kQ4_KScalarKernel = {Format::kQ4_K,
                                               Isa::kScalar,
                                               ConvertActivationsQ8_K,
                                               ActivationRowBytesQ8_K,
                                               Tile<DotQ4_K>,
                                               4,
                                               4};
extern const MatMulKernel kQ2_KScalarKernel = {Format::kQ2_K,
                                               Isa::kScalar,
                                               ConvertActivationsQ8_K,
                                               ActivationRowBytesQ8_K,
                                               Tile<DotQ2_K>,
                                               4,
                                               4};

extern const MatMulKernel kQ6_KScalarKernel = {Format::kQ6_K,
                                               Isa::kScalar,
                                               ConvertActivationsQ8_K,
                                               ActivationRowBytesQ8_K,
                                               Tile<DotQ6_K>,
                                               4,
                                               4};
extern const MatMulKernel kQ3_KScalarKernel = {Format::kQ3_K,
                                               Isa::kScalar,
                                               ConvertActivationsQ8_K,
                                               ActivationRowBytesQ8_K,
                                               Tile<DotQ3_K>,
                                               4,
                                               4};

}  // namespace aiscore
