#include "agent/quant/reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "agent/quant/blocks.h"
#include "agent/quant/format.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

std::vector<float> RandomNormal(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Normalized mean squared error, in FP64.
double Nmse(const std::vector<float>& ref, const std::vector<float>& got) {
  double err = 0, norm = 0;
  for (size_t i = 0; i < ref.size(); ++i) {
    err += (double(ref[i]) - got[i]) * (double(ref[i]) - got[i]);
    norm += double(ref[i]) * ref[i];
  }
  return err / norm;
}

TEST(FormatTest, TraitsMatchBlockStructs) {
  EXPECT_EQ(Traits(Format::kQ8_0).block_bytes, 34);
  EXPECT_EQ(Traits(Format::kQ4_K).block_bytes, 144);
  EXPECT_EQ(Traits(Format::kQ2_K).block_bytes, 84);
  EXPECT_EQ(Traits(Format::kF16).block_bytes, 2);
  EXPECT_EQ(Traits(Format::kQ4_K).block_size, 256);
  EXPECT_DOUBLE_EQ(BitsPerWeight(Format::kQ4_K), 4.5);
  EXPECT_DOUBLE_EQ(BitsPerWeight(Format::kQ2_K), 2.625);
  EXPECT_DOUBLE_EQ(BitsPerWeight(Format::kQ8_0), 8.5);
  // ggml type ids as stored in GGUF tensor infos.
  EXPECT_EQ(Traits(Format::kQ8_0).ggml_type, 8u);
  EXPECT_EQ(Traits(Format::kQ4_K).ggml_type, 12u);
  EXPECT_EQ(Traits(Format::kQ2_K).ggml_type, 10u);
  for (Format f : kAllFormats) {
    EXPECT_EQ(Traits(f).format, f);
    EXPECT_EQ(*FormatFromName(Traits(f).name), f);
    EXPECT_EQ(*FormatFromName(Traits(f).gguf_name), f);
    EXPECT_EQ(*FormatFromGgmlType(Traits(f).ggml_type), f);
  }
}

TEST(FormatTest, UnknownNamesAndTypesAreErrors) {
  absl::StatusOr<Format> f = FormatFromName("q3_k");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("q3_k"), absl::string_view::npos);
  EXPECT_FALSE(FormatFromGgmlType(14).ok());  // Q6_K
  EXPECT_FALSE(FormatFromGgmlType(9999).ok());
}

// Q8_0 golden bytes: amax 127 makes d exactly 1.0 (f16 0x3c00) and q = x.
TEST(GoldenTest, Q8_0) {
  float x[32];
  for (int i = 0; i < 32; ++i) x[i] = static_cast<float>(i - 16);
  x[0] = -127.0f;
  BlockQ8_0 b;
  QuantizeRowQ8_0(x, &b, 32);
  unsigned char bytes[34];
  std::memcpy(bytes, &b, 34);
  EXPECT_EQ(bytes[0], 0x00);
  EXPECT_EQ(bytes[1], 0x3c);
  EXPECT_EQ(bytes[2], 0x81);  // -127
  EXPECT_EQ(bytes[3], 0xf1);  // -15
  EXPECT_EQ(bytes[2 + 16], 0x00);
  EXPECT_EQ(bytes[2 + 31], 0x0f);  // 15
  float y[32];
  DequantizeRowQ8_0(&b, y, 32);
  for (int i = 0; i < 32; ++i) EXPECT_EQ(y[i], x[i]);
}

// Q4_K golden: a hand-built block, d = 1, dmin = 0.5; sub-block 0 has scale
// 3 and min 2, sub-block 5 has scale 17 (0x11: high bits in scales[1] bits
// 6-7) and min 33 (0x21: high bits in scales[5] bits 6-7).
TEST(GoldenTest, Q4_KDequantizesHandBuiltBlock) {
  unsigned char bytes[144] = {};
  bytes[0] = 0x00, bytes[1] = 0x3c;  // d = 1.0
  bytes[2] = 0x00, bytes[3] = 0x38;  // dmin = 0.5
  unsigned char* scales = bytes + 4;
  scales[0] = 3;                 // sc0 = 3
  scales[4] = 2;                 // m0 = 2
  scales[9] = 0x1 | (0x1 << 4);  // low nibbles of sc5 (1) and m5 (1)
  scales[1] |= 0x1 << 6;         // sc5 high bits = 1 -> sc5 = 17
  scales[5] |= 0x2 << 6;         // m5 high bits = 2 -> m5 = 33
  unsigned char* qs = bytes + 16;
  qs[0] = 0x07;       // weight 0 (low nibble, sub-block 0) = 7; weight 32 (sub-block 1) = 0
  qs[64 + 1] = 0xa0;  // weight 2*64+32+1 = 161 (sub-block 5) = 10
  float y[256];
  DequantizeRowQ4_K(bytes, y, 256);
  EXPECT_FLOAT_EQ(y[0], 1.0f * 3 * 7 - 0.5f * 2);       // 20
  EXPECT_FLOAT_EQ(y[1], -1.0f);                         // q = 0
  EXPECT_FLOAT_EQ(y[161], 1.0f * 17 * 10 - 0.5f * 33);  // 153.5
  EXPECT_FLOAT_EQ(y[160], -16.5f);
  uint8_t sc, m;
  UnpackQ4KScaleMin(5, scales, &sc, &m);
  EXPECT_EQ(sc, 17);
  EXPECT_EQ(m, 33);
}

// Q2_K golden: d = 2, dmin = 1; group 0 scale 1 min 1, group 5 scale 3 min 2.
// Group 5 is chunk 0, bit pair 2, second half: weights 80..95 in qs[16..31] bits 4-5.
TEST(GoldenTest, Q2_KDequantizesHandBuiltBlock) {
  unsigned char bytes[84] = {};
  unsigned char* scales = bytes;
  unsigned char* qs = bytes + 16;
  scales[0] = 0x11;
  scales[5] = 0x23;
  qs[0] = 0x03;                        // weight 0 = 3
  qs[16 + 2] = 0x2 << 4;               // weight 80 + 2 = 82 -> 2
  bytes[80] = 0x00, bytes[81] = 0x40;  // d = 2.0
  bytes[82] = 0x00, bytes[83] = 0x3c;  // dmin = 1.0
  float y[256];
  DequantizeRowQ2_K(bytes, y, 256);
  EXPECT_FLOAT_EQ(y[0], 2.0f * 1 * 3 - 1.0f * 1);  // 5
  EXPECT_FLOAT_EQ(y[1], -1.0f);
  EXPECT_FLOAT_EQ(y[82], 2.0f * 3 * 2 - 1.0f * 2);  // 10
  EXPECT_FLOAT_EQ(y[81], -2.0f);
}

TEST(ReferenceTest, DequantizeMatchesFp64Definition) {
  // Recompute the dequantized values of random blocks from their fields in FP64.
  std::mt19937 rng(std::random_device{}());
  std::vector<unsigned char> q4(144 * 8), q2(84 * 8);
  for (auto& b : q4) b = rng();
  for (auto& b : q2) b = rng();
  for (int blk = 0; blk < 8; ++blk) {  // Keep scales finite: d and dmin in [2^-8, 2).
    for (unsigned char* p : {&q4[144 * blk], &q2[84 * blk + 80]}) {
      p[1] = 0x1c + rng() % 0x20, p[3] = 0x1c + rng() % 0x20;
    }
  }
  std::vector<float> y4(2048), y2(2048);
  DequantizeRowQ4_K(q4.data(), y4.data(), 2048);
  DequantizeRowQ2_K(q2.data(), y2.data(), 2048);
  for (int blk = 0; blk < 8; ++blk) {
    const auto& b4 = *reinterpret_cast<const BlockQ4_K*>(&q4[144 * blk]);
    const auto& b2 = *reinterpret_cast<const BlockQ2_K*>(&q2[84 * blk]);
    for (int i = 0; i < 256; ++i) {
      uint8_t sc, m;
      UnpackQ4KScaleMin(i / 32, b4.scales, &sc, &m);
      const int nib = (b4.qs[32 * (i / 64) + i % 32] >> (4 * ((i / 32) % 2))) & 15;
      const double w4 = double(Fp16ToFp32(b4.d)) * sc * nib - double(Fp16ToFp32(b4.dmin)) * m;
      EXPECT_NEAR(y4[256 * blk + i], w4, 1e-6 * (1 + std::fabs(w4)));
      const int g = i / 16;
      const int q = (b2.qs[32 * (i / 128) + i % 32] >> (2 * ((i % 128) / 32))) & 3;
      const double w2 = double(Fp16ToFp32(b2.d)) * (b2.scales[g] & 15) * q -
                        double(Fp16ToFp32(b2.dmin)) * (b2.scales[g] >> 4);
      EXPECT_NEAR(y2[256 * blk + i], w2, 1e-6 * (1 + std::fabs(w2)));
    }
  }
}

// Round-trip error bounds on N(0, 1) data, documented in docs/formats.md.
struct Bound {
  Format format;
  double max_nmse;
};

class RoundTripTest : public ::testing::TestWithParam<Bound> {};

TEST_P(RoundTripTest, ErrorWithinBound) {
  const Bound b = GetParam();
  const FormatTraits& t = Traits(b.format);
  const int64_t n = 256 * 64;
  std::vector<float> x = RandomNormal(n, std::random_device{}());
  std::vector<unsigned char> blocks(RowBytes(b.format, n));
  std::vector<float> y(n);
  t.quantize(x.data(), blocks.data(), n);
  t.dequantize(blocks.data(), y.data(), n);
  const double nmse = Nmse(x, y);
  EXPECT_LE(nmse, b.max_nmse) << t.name;
  for (float v : y) ASSERT_TRUE(std::isfinite(v));
  // Quantizing the dequantized values again is (nearly) a fixed point.
  std::vector<unsigned char> again(blocks.size());
  std::vector<float> z(n);
  t.quantize(y.data(), again.data(), n);
  t.dequantize(again.data(), z.data(), n);
  EXPECT_LE(Nmse(y, z), b.max_nmse / 4) << t.name;
}

INSTANTIATE_TEST_SUITE_P(Formats, RoundTripTest,
                         ::testing::Values(Bound{Format::kF32, 0.0}, Bound{Format::kF16, 1e-6},
                                           Bound{Format::kQ8_0, 5e-5}, Bound{Format::kQ4_K, 1e-2},
                                           Bound{Format::kQ2_K, 1.5e-1}),
                         [](const auto& info) {
                           return std::string(Traits(info.param.format).gguf_name);
                         });

TEST(ReferenceTest, ZeroAndConstantBlocksAreExact) {
  for (Format f : kAllFormats) {
    const FormatTraits& t = Traits(f);
    std::vector<float> zeros(256, 0.0f), y(256, 1.0f);
    std::vector<unsigned char> blocks(RowBytes(f, 256));
    t.quantize(zeros.data(), blocks.data(), 256);
    t.dequantize(blocks.data(), y.data(), 256);
    for (float v : y) EXPECT_EQ(v, 0.0f) << t.name;
  }
}

TEST(ReferenceTest, Q8_KBlockSums) {
  std::vector<float> x = RandomNormal(512, 7);
  BlockQ8_K b[2];
  QuantizeRowQ8_K(x.data(), b, 512);
  for (const BlockQ8_K& blk : b) {
    for (int j = 0; j < 16; ++j) {
      int sum = 0;
      for (int i = 0; i < 16; ++i) sum += blk.qs[16 * j + i];
      EXPECT_EQ(blk.bsums[j], sum);
    }
  }
}

}  // namespace
}  // namespace aiscore
