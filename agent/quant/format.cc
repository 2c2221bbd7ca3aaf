#include "agent/quant/format.h"

#include <cctype>
#include <string>

#include "absl/strings/str_cat.h"
#include "agent/quant/blocks.h"
#include "agent/quant/reference.h"

namespace aiscore {
namespace {

constexpr FormatTraits kFormatTable[] = {
    {Format::kF32, "f32", "F32", 0, 1, 4, QuantizeRowF32, DequantizeRowF32},
    {Format::kF16, "f16", "F16", 1, 1, 2, QuantizeRowF16, DequantizeRowF16},
    {Format::kQ8_0, "q8_0", "Q8_0", 8, kQ8_0BlockSize, sizeof(BlockQ8_0), QuantizeRowQ8_0,
     DequantizeRowQ8_0},
    {Format::kQ4_K, "q4_k", "Q4_K", 12, kSuperBlockSize, sizeof(BlockQ4_K), QuantizeRowQ4_K,
     DequantizeRowQ4_K},
    {Format::kQ2_K, "q2_k", "Q2_K", 10, kSuperBlockSize, sizeof(BlockQ2_K), QuantizeRowQ2_K,
     DequantizeRowQ2_K},
    {Format::kQ6_K, "q6_k", "Q6_K", 14, kSuperBlockSize, sizeof(BlockQ6_K), QuantizeRowQ6_K,
     DequantizeRowQ6_K},
    {Format::kQ3_K, "q3_k", "Q3_K", 11, kSuperBlockSize, sizeof(BlockQ3_K), QuantizeRowQ3_K,
     DequantizeRowQ3_K},
};
static_assert(std::size(kFormatTable) == std::size(kAllFormats));

// Traits() indexes the table by the enum's value.
constexpr bool TableInEnumOrder() {
  for (size_t i = 0; i < std::size(kFormatTable); ++i) {
    if (static_cast<size_t>(kFormatTable[i].format) != i) return false;
  }
  return true;
}
static_assert(TableInEnumOrder());

}  // namespace

const FormatTraits& Traits(Format format) { return kFormatTable[static_cast<size_t>(format)]; }

std::string_view FormatName(Format format) { return Traits(format).name; }

absl::StatusOr<Format> FormatFromName(std::string_view name) {
  std::string lower(name);
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const FormatTraits& t : kFormatTable) {
    if (t.name == lower) return t.format;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown format '", std::string(name),
                   "': expected one of f32, f16, q8_0, q4_k, q2_k, q6_k, q3_k"));
}

absl::StatusOr<Format> FormatFromGgmlType(uint32_t ggml_type) {
  for (const FormatTraits& t : kFormatTable) {
    if (t.ggml_type == ggml_type) return t.format;
  }
  return absl::UnimplementedError(
      absl::StrCat("ggml tensor type ", ggml_type,
                   " is not supported (supported: F32, F16, Q8_0, Q4_K, Q2_K, Q6_K, Q3_K)"));
}

}  // namespace aiscore
