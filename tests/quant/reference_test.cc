#include "agent/quant/reference.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "agent/quant/blocks.h"
#include "agent/quant/format.h"
#include "agent/quant/fp16.h"
#include "tests/nmse.h"

namespace aiscore {
namespace {

std::vector<float> RandomNormal(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
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
  EXPECT_EQ(Traits(Format::kQ6_K).block_bytes, 210);
  EXPECT_EQ(Traits(Format::kQ3_K).block_bytes, 110);
  EXPECT_DOUBLE_EQ(BitsPerWeight(Format::kQ6_K), 6.5625);
  EXPECT_DOUBLE_EQ(BitsPerWeight(Format::kQ3_K), 3.4375);
  EXPECT_EQ(Traits(Format::kQ6_K).ggml_type, 14u);
  EXPECT_EQ(Traits(Format::kQ3_K).ggml_type, 11u);
  for (Format f : kAllFormats) {
    EXPECT_EQ(Traits(f).format, f);
    EXPECT_EQ(*FormatFromName(Traits(f).name), f);
    EXPECT_EQ(*FormatFromName(Traits(f).gguf_name), f);
    EXPECT_EQ(*FormatFromGgmlType(Traits(f).ggml_type), f);
  }
}

TEST(FormatTest, UnknownNamesAndTypesAreErrors) {
  absl::StatusOr<Format> f = FormatFromName("q5_k");
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.status().message().find("q5_k"), absl::string_view::npos);
  EXPECT_FALSE(FormatFromGgmlType(13).ok());  // Q5_K
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

// Q6_K golden: a hand-built block, d = 0.5; group 0 scale 3, group 13
// scale -7. Weight 0 (c 0, p 0, l 0): low nibble of ql[0], bits 0-1 of qh[0].
// Weight 217 = 128 + 64 + 25 (c 1, p 2, l 25, group 13): high nibble of
// ql[64 + 25], bits 4-5 of qh[32 + 25].
TEST(GoldenTest, Q6_KDequantizesHandBuiltBlock) {
  unsigned char bytes[210] = {};
  unsigned char* ql = bytes;
  unsigned char* qh = bytes + 128;
  auto* scales = reinterpret_cast<int8_t*>(bytes + 192);
  bytes[208] = 0x00, bytes[209] = 0x38;  // d = 0.5
  scales[0] = 3;
  scales[13] = -7;
  ql[0] = 0x05;            // weight 0: low four bits 5 (weight 64: 0)
  qh[0] = 0x2;             // weight 0: high bits 2 -> q + 32 = 37, q = 5
  ql[64 + 25] = 0xc0;      // weight 217: low four bits 12
  qh[32 + 25] = 0x3 << 4;  // weight 217: high bits 3 -> q + 32 = 60, q = 28
  float y[256];
  DequantizeRowQ6_K(bytes, y, 256);
  EXPECT_FLOAT_EQ(y[0], 0.5f * 3 * 5);      // 7.5
  EXPECT_FLOAT_EQ(y[1], 0.5f * 3 * -32);    // all bits 0: q = -32
  EXPECT_FLOAT_EQ(y[64], 0.5f * 0 * -32);   // group 4 has scale 0
  EXPECT_FLOAT_EQ(y[217], 0.5f * -7 * 28);  // -98
  EXPECT_FLOAT_EQ(y[216], 0.5f * -7 * -32);
}

// Q3_K golden: d = 0.25; group 0 code 35 (scale 3), group 13 code 9 (scale
// -23; low nibble 9 in the high nibble of scales[5], high bits 0 in bit pair
// 3 of scales[9]), group 6 code 50 (scale 18; low nibble 2 in scales[6],
// high bits 3 in bit pair 1 of scales[10]). Weight 217 (c 1, p 2, l 25): bit
// pair 2 of qs[32 + 25] and bit 6 of hmask[25].
TEST(GoldenTest, Q3_KDequantizesHandBuiltBlock) {
  unsigned char bytes[110] = {};
  unsigned char* hmask = bytes;
  unsigned char* qs = bytes + 32;
  unsigned char* scales = bytes + 96;
  bytes[108] = 0x00, bytes[109] = 0x34;  // d = 0.25
  // Every code not set below is 0 (scale -32).
  scales[0] = 0x3;         // code 0 low nibble 3
  scales[8] = 0x2;         // code 0 high bits 2 -> 35
  scales[5] = 0x9 << 4;    // code 13 low nibble 9
  scales[6] = 0x2;         // code 6 low nibble 2
  scales[10] = 0x3 << 2;   // code 6 high bits 3 -> 50
  qs[0] = 0x3;             // weight 0: low bits 3
  hmask[0] = 0x1;          // weight 0: high bit 1 -> q + 4 = 7, q = 3
  qs[32 + 25] = 0x1 << 4;  // weight 217: low bits 1, high bit 0 -> q = -3
  qs[16 + 3] = 0x2 << 6;   // weight 96 + 19 = 115 (group 7, code 0): q = 2 - 4
  float y[256];
  DequantizeRowQ3_K(bytes, y, 256);
  EXPECT_EQ(UnpackQ3KScale(0, scales), 35);
  EXPECT_EQ(UnpackQ3KScale(13, scales), 9);
  EXPECT_EQ(UnpackQ3KScale(6, scales), 50);
  EXPECT_FLOAT_EQ(y[0], 0.25f * 3 * 3);   // 2.25
  EXPECT_FLOAT_EQ(y[1], 0.25f * 3 * -4);  // all bits 0: q = -4
  EXPECT_FLOAT_EQ(y[217], 0.25f * -23 * -3);
  EXPECT_FLOAT_EQ(y[96], 0.25f * 18 * -4);  // weight 96: group 6, bit pair 3 of qs[0]
  EXPECT_FLOAT_EQ(y[115], 0.25f * -32 * -2);
  uint8_t packed[12];
  uint8_t codes[16];
  for (int j = 0; j < 16; ++j) codes[j] = UnpackQ3KScale(j, scales);
  PackQ3KScales(codes, packed);
  EXPECT_EQ(std::memcmp(packed, scales, 12), 0);
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

TEST(ReferenceTest, Q6_KAndQ3_KDequantizeMatchesFp64Definition) {
  // The value formulas of docs/formats.md, weight by weight, in FP64.
  std::mt19937 rng(std::random_device{}());
  std::vector<unsigned char> q6(210 * 8), q3(110 * 8);
  for (auto& b : q6) b = rng();
  for (auto& b : q3) b = rng();
  for (int blk = 0; blk < 8; ++blk) {  // Keep d finite: |d| in [2^-8, 2).
    q6[210 * blk + 209] = (rng() & 0x80) | (0x1c + rng() % 0x20);
    q3[110 * blk + 109] = (rng() & 0x80) | (0x1c + rng() % 0x20);
  }
  std::vector<float> y6(2048), y3(2048);
  DequantizeRowQ6_K(q6.data(), y6.data(), 2048);
  DequantizeRowQ3_K(q3.data(), y3.data(), 2048);
  for (int blk = 0; blk < 8; ++blk) {
    const unsigned char* b6 = &q6[210 * blk];
    const unsigned char* b3 = &q3[110 * blk];
    uint16_t d6, d3;
    std::memcpy(&d6, b6 + 208, 2);
    std::memcpy(&d3, b3 + 108, 2);
    for (int i = 0; i < 256; ++i) {
      const int c = i / 128, p = (i % 128) / 32, l = i % 32, j = i / 16;
      // Q6_K: ql at 0, qh at 128, int8 scales at 192.
      const int low4 = (b6[64 * c + 32 * (p % 2) + l] >> (4 * (p / 2))) & 15;
      const int high2 = (b6[128 + 32 * c + l] >> (2 * p)) & 3;
      const double w6 =
          double(Fp16ToFp32(d6)) * static_cast<int8_t>(b6[192 + j]) * ((low4 | high2 << 4) - 32);
      EXPECT_NEAR(y6[256 * blk + i], w6, 1e-6 * (1 + std::fabs(w6)));
      // Q3_K: hmask at 0, qs at 32, 6-bit scales at 96.
      const int low2 = (b3[32 + 32 * c + l] >> (2 * p)) & 3;
      const int high1 = (b3[l] >> (4 * c + p)) & 1;
      const int code = ((b3[96 + j % 8] >> (4 * (j / 8))) & 15) |
                       (((b3[96 + 8 + j % 4] >> (2 * (j / 4))) & 3) << 4);
      const double w3 = double(Fp16ToFp32(d3)) * (code - 32) * ((low2 | high1 << 2) - 4);
      EXPECT_NEAR(y3[256 * blk + i], w3, 1e-6 * (1 + std::fabs(w3)));
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
                                           Bound{Format::kQ2_K, 1.5e-1}, Bound{Format::kQ6_K, 1e-3},
                                           Bound{Format::kQ3_K, 6e-2}),
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
