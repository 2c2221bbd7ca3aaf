// The weight formats aiscore runs, and the one table of their traits.
//
// Every per-format fact (name, ggml type id, block geometry, reference
// quantize and dequantize) is a row of kFormatTable in format.cc; code that
// needs one asks Traits(format) instead of switching on the format.
#ifndef AISCORE_AGENT_QUANT_FORMAT_H_
#define AISCORE_AGENT_QUANT_FORMAT_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "absl/status/statusor.h"

namespace aiscore {

enum class Format : uint8_t {
  kF32,  // reference only (and norm weights)
  kF16,
  kQ8_0,
  kQ4_K,
  kQ2_K,
  kQ6_K,  // in llama.cpp's mixes (Q4_K_M, Q2_K, ...); not in the basket
  kQ3_K,  // in llama.cpp's mixes (Q2_K, Q3_K_*); not in the basket
};
inline constexpr Format kAllFormats[] = {Format::kF32,  Format::kF16,  Format::kQ8_0, Format::kQ4_K,
                                         Format::kQ2_K, Format::kQ6_K, Format::kQ3_K};
// The formats of the benchmark basket.
inline constexpr Format kBasketFormats[] = {Format::kF16, Format::kQ8_0, Format::kQ4_K,
                                            Format::kQ2_K};

// Converts `n` floats to `n / block_size` blocks; n must be a multiple of it.
using QuantizeRowFn = void (*)(const float* x, void* blocks, int64_t n);
// Converts `n / block_size` blocks back to `n` floats.
using DequantizeRowFn = void (*)(const void* blocks, float* y, int64_t n);

struct FormatTraits {
  Format format;
  std::string_view name;       // lower case, as on the command line: "q4_k"
  std::string_view gguf_name;  // as llama.cpp prints it: "Q4_K"
  uint32_t ggml_type;          // GGML_TYPE_* id stored in GGUF tensor infos
  int block_size;              // weights per block
  int block_bytes;             // bytes per block
  QuantizeRowFn quantize;      // reference quantizer
  DequantizeRowFn dequantize;  // reference dequantizer
};

const FormatTraits& Traits(Format format);
std::string_view FormatName(Format format);
absl::StatusOr<Format> FormatFromName(std::string_view name);  // "q4_k", "Q4_K", "f16", ...
absl::StatusOr<Format> FormatFromGgmlType(uint32_t ggml_type);

// Bytes of a row of `n` weights; n must be a multiple of the block size.
inline size_t RowBytes(Format format, int64_t n) {
  const FormatTraits& t = Traits(format);
  return static_cast<size_t>(n / t.block_size) * static_cast<size_t>(t.block_bytes);
}
// Average bits per weight: 16 for F16, 8.5 for Q8_0, 4.5 for Q4_K, 2.625 for Q2_K,
// 6.5625 for Q6_K, 3.4375 for Q3_K.
inline double BitsPerWeight(Format format) {
  const FormatTraits& t = Traits(format);
  return 8.0 * t.block_bytes / t.block_size;
}

}  // namespace aiscore

#endif  // AISCORE_AGENT_QUANT_FORMAT_H_
