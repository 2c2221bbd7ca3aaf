#include "agent/quant/reference.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

int RoundToInt(float x) { return static_cast<int>(std::lrintf(x)); }

// Fits w ~= scale * L - offset (scale >= 0, offset >= 0, L in 0..max_level)
// to x[0..n). Tries a small set of candidate scales around (max - min) /
// max_level, refits scale and offset by least squares for the levels each
// implies, and keeps the fit with the smallest squared error.
void FitAffine(const float* x, int n, int max_level, float* scale, float* offset) {
  float lo = x[0], hi = x[0];
  for (int i = 1; i < n; ++i) {
    lo = std::min(lo, x[i]);
    hi = std::max(hi, x[i]);
  }
  lo = std::min(lo, 0.0f);  // The offset is subtracted, so the range always includes 0.
  if (hi <= lo) {
    *scale = 0.0f;
    *offset = -lo;
    return;
  }
  float best_err = INFINITY, best_scale = (hi - lo) / max_level, best_offset = -lo;
  for (int step = -6; step <= 6; ++step) {
    const float s0 = (hi - lo) / (max_level + 0.1f * step);
    if (!(s0 > 0.0f)) continue;
    // Levels implied by this candidate, then the least-squares scale and offset for them.
    double sum_l = 0, sum_l2 = 0, sum_x = 0, sum_xl = 0;
    int levels[256];
    for (int i = 0; i < n; ++i) {
      const int l = std::clamp(RoundToInt((x[i] - lo) / s0), 0, max_level);
      levels[i] = l;
      sum_l += l;
      sum_l2 += static_cast<double>(l) * l;
      sum_x += x[i];
      sum_xl += static_cast<double>(x[i]) * l;
    }
    const double det = n * sum_l2 - sum_l * sum_l;
    double s = det > 0 ? (n * sum_xl - sum_l * sum_x) / det : s0;
    double o = (s * sum_l - sum_x) / n;
    if (o < 0) {  // Offsets are stored unsigned: refit the scale alone.
      o = 0;
      s = sum_l2 > 0 ? sum_xl / sum_l2 : s0;
    }
    if (s <= 0) continue;
    double err = 0;
    for (int i = 0; i < n; ++i) {
      const double d = s * levels[i] - o - x[i];
      err += d * d;
    }
    if (err < best_err) {
      best_err = static_cast<float>(err);
      best_scale = static_cast<float>(s);
      best_offset = static_cast<float>(o);
    }
  }
  *scale = best_scale;
  *offset = best_offset;
}

// Quantizes per-sub-block scales (or mins) to `bits` bits against one f16
// super-scale; returns the super-scale's f16 bits and writes the codes.
uint16_t QuantizeSubScales(const float* values, int count, int max_code, uint8_t* codes) {
  float max_value = 0.0f;
  for (int j = 0; j < count; ++j) max_value = std::max(max_value, values[j]);
  const uint16_t super_bits = Fp32ToFp16(max_value / max_code);
  const float super = Fp16ToFp32(super_bits);
  for (int j = 0; j < count; ++j) {
    codes[j] = super > 0
                   ? static_cast<uint8_t>(std::clamp(RoundToInt(values[j] / super), 0, max_code))
                   : 0;
  }
  return super_bits;
}

// Fits x ~= scale * L (L in -(max_level + 1)..max_level, scale of either
// sign) to x[0..n). The value of largest magnitude, xm, sets the candidate
// scales: 13 around xm / max_level (xm on the top level) and 13 around
// -xm / (max_level + 1) (xm on the bottom level, which the asymmetric range
// makes one step further out). For the levels each candidate implies, the
// least-squares scale; returns the one with the smallest squared error.
float FitSymmetric(const float* x, int n, int max_level) {
  float xm = 0.0f;
  double sum_x2 = 0;
  for (int i = 0; i < n; ++i) {
    if (std::fabs(x[i]) > std::fabs(xm)) xm = x[i];
    sum_x2 += static_cast<double>(x[i]) * x[i];
  }
  if (xm == 0.0f) return 0.0f;
  float best_scale = xm / max_level;
  double best_err = INFINITY;
  for (const int top : {max_level, -(max_level + 1)}) {
    for (int step = -6; step <= 6; ++step) {
      const float s0 = xm / (top + 0.1f * step);
      double sum_xl = 0, sum_l2 = 0;
      for (int i = 0; i < n; ++i) {
        const int l = std::clamp(RoundToInt(x[i] / s0), -(max_level + 1), max_level);
        sum_xl += static_cast<double>(x[i]) * l;
        sum_l2 += static_cast<double>(l) * l;
      }
      if (sum_l2 == 0) continue;
      // At the least-squares scale s = sum_xl / sum_l2 the squared error is
      // sum_x2 - s * sum_xl.
      const double err = sum_x2 - sum_xl * sum_xl / sum_l2;
      if (err < best_err) {
        best_err = err;
        best_scale = static_cast<float>(sum_xl / sum_l2);
      }
    }
  }
  return best_scale;
}

// Quantizes signed per-sub-block scales to codes in -max_code..max_code
// against one f16 super-scale; returns the super-scale's f16 bits.
uint16_t QuantizeSignedSubScales(const float* values, int count, int max_code, int* codes) {
  float max_value = 0.0f;
  for (int j = 0; j < count; ++j) max_value = std::max(max_value, std::fabs(values[j]));
  const uint16_t super_bits = Fp32ToFp16(max_value / max_code);
  const float super = Fp16ToFp32(super_bits);
  for (int j = 0; j < count; ++j) {
    codes[j] = super > 0 ? std::clamp(RoundToInt(values[j] / super), -max_code, max_code) : 0;
  }
  return super_bits;
}

// Given the stored sub-block scale, the nearest signed level of x.
int NearestSignedLevel(float x, float scale, int max_level) {
  if (scale == 0.0f) return 0;
  return std::clamp(RoundToInt(x / scale), -(max_level + 1), max_level);
}

// Given the stored per-sub-block scale and offset, the nearest level of x.
uint8_t NearestLevel(float x, float scale, float offset, int max_level) {
  if (scale == 0.0f) return 0;
  return static_cast<uint8_t>(std::clamp(RoundToInt((x + offset) / scale), 0, max_level));
}

}  // namespace

void QuantizeRowF32(const float* x, void* y, int64_t n) { std::memcpy(y, x, n * sizeof(float)); }
void DequantizeRowF32(const void* x, float* y, int64_t n) { std::memcpy(y, x, n * sizeof(float)); }

void QuantizeRowF16(const float* x, void* y, int64_t n) {
  auto* out = static_cast<uint16_t*>(y);
  for (int64_t i = 0; i < n; ++i) out[i] = Fp32ToFp16(x[i]);
}

void DequantizeRowF16(const void* x, float* y, int64_t n) {
  const auto* in = static_cast<const uint16_t*>(x);
  for (int64_t i = 0; i < n; ++i) y[i] = Fp16ToFp32(in[i]);
}

void QuantizeRowQ8_0(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ8_0*>(y);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b, x += kQ8_0BlockSize) {
    float amax = 0.0f;
    for (int i = 0; i < kQ8_0BlockSize; ++i) amax = std::max(amax, std::fabs(x[i]));
    blocks[b].d = Fp32ToFp16(amax / 127.0f);
    const float d = Fp16ToFp32(blocks[b].d);
    for (int i = 0; i < kQ8_0BlockSize; ++i) {
      blocks[b].qs[i] =
          d > 0 ? static_cast<int8_t>(std::clamp(RoundToInt(x[i] / d), -127, 127)) : 0;
    }
  }
}

void DequantizeRowQ8_0(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ8_0*>(x);
  for (int64_t b = 0; b < n / kQ8_0BlockSize; ++b) {
    const float d = Fp16ToFp32(blocks[b].d);
    for (int i = 0; i < kQ8_0BlockSize; ++i) *y++ = d * blocks[b].qs[i];
  }
}

void QuantizeRowQ4_K(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ4_K*>(y);
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b, x += kSuperBlockSize) {
    BlockQ4_K& blk = blocks[b];
    float scales[8], offsets[8];
    for (int j = 0; j < 8; ++j) FitAffine(x + 32 * j, 32, 15, &scales[j], &offsets[j]);
    uint8_t sc[8], mn[8];
    blk.d = QuantizeSubScales(scales, 8, 63, sc);
    blk.dmin = QuantizeSubScales(offsets, 8, 63, mn);
    std::memset(blk.scales, 0, sizeof(blk.scales));
    for (int j = 0; j < 8; ++j) {
      if (j < 4) {
        blk.scales[j] = sc[j];
        blk.scales[j + 4] = mn[j];
      } else {
        blk.scales[j + 4] = (sc[j] & 0xf) | ((mn[j] & 0xf) << 4);
        blk.scales[j - 4] |= (sc[j] >> 4) << 6;
        blk.scales[j] |= (mn[j] >> 4) << 6;
      }
    }
    const float d = Fp16ToFp32(blk.d), dmin = Fp16ToFp32(blk.dmin);
    uint8_t levels[kSuperBlockSize];
    for (int j = 0; j < 8; ++j) {
      uint8_t s, m;
      UnpackQ4KScaleMin(j, blk.scales, &s, &m);
      for (int i = 0; i < 32; ++i) {
        levels[32 * j + i] = NearestLevel(x[32 * j + i], d * s, dmin * m, 15);
      }
    }
    for (int c = 0; c < 4; ++c) {
      for (int l = 0; l < 32; ++l) {
        blk.qs[32 * c + l] = levels[64 * c + l] | (levels[64 * c + 32 + l] << 4);
      }
    }
  }
}

void DequantizeRowQ4_K(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ4_K*>(x);
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b) {
    const BlockQ4_K& blk = blocks[b];
    const float d = Fp16ToFp32(blk.d), dmin = Fp16ToFp32(blk.dmin);
    for (int c = 0; c < 4; ++c) {
      uint8_t s0, m0, s1, m1;
      UnpackQ4KScaleMin(2 * c, blk.scales, &s0, &m0);
      UnpackQ4KScaleMin(2 * c + 1, blk.scales, &s1, &m1);
      const uint8_t* q = blk.qs + 32 * c;
      for (int l = 0; l < 32; ++l) *y++ = d * s0 * (q[l] & 0xf) - dmin * m0;
      for (int l = 0; l < 32; ++l) *y++ = d * s1 * (q[l] >> 4) - dmin * m1;
    }
  }
}

void QuantizeRowQ2_K(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ2_K*>(y);
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b, x += kSuperBlockSize) {
    BlockQ2_K& blk = blocks[b];
    float scales[16], offsets[16];
    for (int j = 0; j < 16; ++j) FitAffine(x + 16 * j, 16, 3, &scales[j], &offsets[j]);
    uint8_t sc[16], mn[16];
    blk.d = QuantizeSubScales(scales, 16, 15, sc);
    blk.dmin = QuantizeSubScales(offsets, 16, 15, mn);
    for (int j = 0; j < 16; ++j) blk.scales[j] = sc[j] | (mn[j] << 4);
    const float d = Fp16ToFp32(blk.d), dmin = Fp16ToFp32(blk.dmin);
    uint8_t levels[kSuperBlockSize];
    for (int j = 0; j < 16; ++j) {
      for (int i = 0; i < 16; ++i) {
        levels[16 * j + i] = NearestLevel(x[16 * j + i], d * sc[j], dmin * mn[j], 3);
      }
    }
    for (int c = 0; c < 2; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t* v = levels + 128 * c + l;
        blk.qs[32 * c + l] = v[0] | (v[32] << 2) | (v[64] << 4) | (v[96] << 6);
      }
    }
  }
}

void DequantizeRowQ2_K(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ2_K*>(x);
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b) {
    const BlockQ2_K& blk = blocks[b];
    const float d = Fp16ToFp32(blk.d), dmin = Fp16ToFp32(blk.dmin);
    for (int c = 0; c < 2; ++c) {
      const uint8_t* q = blk.qs + 32 * c;
      for (int p = 0; p < 4; ++p) {
        for (int half = 0; half < 2; ++half) {
          const uint8_t sc = blk.scales[8 * c + 2 * p + half];
          const float dl = d * (sc & 0xf), ml = dmin * (sc >> 4);
          for (int l = 0; l < 16; ++l) *y++ = dl * ((q[16 * half + l] >> (2 * p)) & 3) - ml;
        }
      }
    }
  }
}

void QuantizeRowQ6_K(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ6_K*>(y);
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b, x += kSuperBlockSize) {
    BlockQ6_K& blk = blocks[b];
    float scales[16];
    for (int j = 0; j < 16; ++j) scales[j] = FitSymmetric(x + 16 * j, 16, 31);
    int codes[16];
    blk.d = QuantizeSignedSubScales(scales, 16, 127, codes);
    const float d = Fp16ToFp32(blk.d);
    uint8_t levels[kSuperBlockSize];  // q + 32, 0..63
    for (int j = 0; j < 16; ++j) {
      blk.scales[j] = static_cast<int8_t>(codes[j]);
      for (int i = 0; i < 16; ++i) {
        levels[16 * j + i] =
            static_cast<uint8_t>(NearestSignedLevel(x[16 * j + i], d * codes[j], 31) + 32);
      }
    }
    for (int c = 0; c < 2; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t* v = levels + 128 * c + l;  // v[32 * p]: weight 128c + 32p + l
        blk.ql[64 * c + l] = (v[0] & 0xf) | ((v[64] & 0xf) << 4);
        blk.ql[64 * c + 32 + l] = (v[32] & 0xf) | ((v[96] & 0xf) << 4);
        blk.qh[32 * c + l] =
            (v[0] >> 4) | ((v[32] >> 4) << 2) | ((v[64] >> 4) << 4) | ((v[96] >> 4) << 6);
      }
    }
  }
}

void DequantizeRowQ6_K(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ6_K*>(x);
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b) {
    const BlockQ6_K& blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    for (int c = 0; c < 2; ++c) {
      for (int p = 0; p < 4; ++p) {
        const uint8_t* ql = blk.ql + 64 * c + 32 * (p % 2);
        const uint8_t* qh = blk.qh + 32 * c;
        for (int l = 0; l < 32; ++l) {
          const int q = (((ql[l] >> (4 * (p / 2))) & 0xf) | (((qh[l] >> (2 * p)) & 3) << 4)) - 32;
          *y++ = d * blk.scales[8 * c + 2 * p + l / 16] * q;
        }
      }
    }
  }
}

void QuantizeRowQ3_K(const float* x, void* y, int64_t n) {
  auto* blocks = static_cast<BlockQ3_K*>(y);
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b, x += kSuperBlockSize) {
    BlockQ3_K& blk = blocks[b];
    float scales[16];
    for (int j = 0; j < 16; ++j) scales[j] = FitSymmetric(x + 16 * j, 16, 3);
    int codes[16];
    blk.d = QuantizeSignedSubScales(scales, 16, 31, codes);
    uint8_t stored[16];
    for (int j = 0; j < 16; ++j) stored[j] = static_cast<uint8_t>(codes[j] + 32);
    PackQ3KScales(stored, blk.scales);
    const float d = Fp16ToFp32(blk.d);
    uint8_t levels[kSuperBlockSize];  // q + 4, 0..7
    for (int j = 0; j < 16; ++j) {
      for (int i = 0; i < 16; ++i) {
        levels[16 * j + i] =
            static_cast<uint8_t>(NearestSignedLevel(x[16 * j + i], d * codes[j], 3) + 4);
      }
    }
    std::memset(blk.hmask, 0, sizeof(blk.hmask));
    for (int c = 0; c < 2; ++c) {
      for (int l = 0; l < 32; ++l) {
        const uint8_t* v = levels + 128 * c + l;  // v[32 * p]: weight 128c + 32p + l
        blk.qs[32 * c + l] =
            (v[0] & 3) | ((v[32] & 3) << 2) | ((v[64] & 3) << 4) | ((v[96] & 3) << 6);
        for (int p = 0; p < 4; ++p) blk.hmask[l] |= (v[32 * p] >> 2) << (4 * c + p);
      }
    }
  }
}

void DequantizeRowQ3_K(const void* x, float* y, int64_t n) {
  const auto* blocks = static_cast<const BlockQ3_K*>(x);
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b) {
    const BlockQ3_K& blk = blocks[b];
    const float d = Fp16ToFp32(blk.d);
    for (int c = 0; c < 2; ++c) {
      for (int p = 0; p < 4; ++p) {
        for (int l = 0; l < 32; ++l) {
          const int low = (blk.qs[32 * c + l] >> (2 * p)) & 3;
          const int high = (blk.hmask[l] >> (4 * c + p)) & 1;
          const int q = (low | high << 2) - 4;
          const int scale = UnpackQ3KScale(8 * c + 2 * p + l / 16, blk.scales) - 32;
          *y++ = d * scale * q;
        }
      }
    }
  }
}

void QuantizeRowQ8_K(const float* x, BlockQ8_K* y, int64_t n) {
  for (int64_t b = 0; b < n / kSuperBlockSize; ++b, x += kSuperBlockSize) {
    float amax = 0.0f;
    for (int i = 0; i < kSuperBlockSize; ++i) amax = std::max(amax, std::fabs(x[i]));
    const float inv = amax > 0 ? 127.0f / amax : 0.0f;
    y[b].d = amax / 127.0f;
    for (int i = 0; i < kSuperBlockSize; ++i) {
      y[b].qs[i] = static_cast<int8_t>(std::clamp(RoundToInt(x[i] * inv), -127, 127));
    }
    for (int j = 0; j < kSuperBlockSize / 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += y[b].qs[16 * j + i];
      y[b].bsums[j] = static_cast<int16_t>(sum);
    }
  }
}

}  // namespace aiscore
