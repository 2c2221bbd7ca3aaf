#include "agent/cpu/panel_layout.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "agent/quant/blocks.h"

namespace aiscore {
namespace {

// Copies `n` bytes of field `offset` of each of 16 blocks (of `stride` bytes,
// the first at src) into panel bytes `dst` transposed in 4-byte units: unit u
// of row r goes to dst + 64u + 4r. n a multiple of 4.
void Transpose4ByteUnits(const unsigned char* src, size_t stride, size_t offset, size_t n,
                         unsigned char* dst) {
  for (int r = 0; r < kPanelRows; ++r) {
    for (size_t u = 0; u < n / 4; ++u) {
      std::memcpy(dst + 64 * u + 4 * r, src + r * stride + offset + 4 * u, 4);
    }
  }
}

// One Q2_K super-block of 16 rows: `block` points at row 0's block, the next
// row's is `stride` bytes further on.
void PackQ2_KPanelBlock(const unsigned char* block, size_t stride, unsigned char* out) {
  for (int r = 0; r < kPanelRows; ++r) {
    std::memcpy(out + kQ2_KPanelD + 2 * r, block + r * stride + offsetof(BlockQ2_K, d), 2);
    std::memcpy(out + kQ2_KPanelDmin + 2 * r, block + r * stride + offsetof(BlockQ2_K, dmin), 2);
  }
  Transpose4ByteUnits(block, stride, offsetof(BlockQ2_K, scales), sizeof(BlockQ2_K::scales),
                      out + kQ2_KPanelScales);
  Transpose4ByteUnits(block, stride, offsetof(BlockQ2_K, qs), sizeof(BlockQ2_K::qs),
                      out + kQ2_KPanelQs);
}

// Rows 16g .. 16g + 15 of Q8_0 (`src`, rows `stride` bytes apart, `nb`
// blocks each) as their panel.
void PackQ8_0Panel(const unsigned char* src, size_t stride, int64_t nb, unsigned char* out) {
  for (int64_t b = 0; b < nb; ++b) {
    unsigned char* d = out + Q8_0PanelD(b);
    unsigned char* qs = out + Q8_0PanelQs(b, nb);
    for (int r = 0; r < kPanelRows; ++r) {
      const unsigned char* block = src + r * stride + b * sizeof(BlockQ8_0);
      std::memcpy(d + 2 * r, block + offsetof(BlockQ8_0, d), 2);
      for (int u = 0; u < kQ8_0BlockSize / 4; ++u) {  // 4 quants at a time
        uint32_t q;
        std::memcpy(&q, block + offsetof(BlockQ8_0, qs) + 4 * u, 4);
        q ^= 0x80808080u;
        std::memcpy(qs + 64 * u + 4 * r, &q, 4);
      }
    }
  }
}

// Rows 16g .. 16g + 15 of F16 (`src`, rows `stride` bytes apart) column by
// column: column k's 16 halves at out + 32k. By blocks of 16 columns, each
// row's 32 bytes read at once.
void PackF16Panel(const unsigned char* src, size_t stride, int64_t cols, unsigned char* out) {
  constexpr int kCols = 16;
  uint16_t in[kPanelRows][kCols], block[kCols][kPanelRows];
  for (int64_t k0 = 0; k0 < cols; k0 += kCols) {
    const int n = static_cast<int>(std::min<int64_t>(kCols, cols - k0));
    for (int r = 0; r < kPanelRows; ++r) std::memcpy(in[r], src + r * stride + 2 * k0, 2 * n);
    for (int k = 0; k < kCols; ++k) {
      for (int r = 0; r < kPanelRows; ++r) block[k][r] = in[r][k];
    }
    std::memcpy(out + sizeof(block[0]) * k0, block, sizeof(block[0]) * n);
  }
}

// Rows 16g .. 16g + 15 of `format` (`src`, rows `stride` bytes apart, `cols`
// columns) as their panel (kPanels16).
void PackPanel(Format format, const unsigned char* src, size_t stride, int64_t cols,
               unsigned char* out) {
  if (format == Format::kF16) {
    PackF16Panel(src, stride, cols, out);
    return;
  }
  if (format == Format::kQ8_0) {
    PackQ8_0Panel(src, stride, cols / kQ8_0BlockSize, out);
    return;
  }
  const int64_t blocks = cols / kSuperBlockSize;
  for (int64_t b = 0; b < blocks; ++b) {
    if (format == Format::kQ4_K) {
      Transpose4ByteUnits(src + b * sizeof(BlockQ4_K), stride, 0, sizeof(BlockQ4_K),
                          out + b * kPanelRows * sizeof(BlockQ4_K));
    } else {
      PackQ2_KPanelBlock(src + b * sizeof(BlockQ2_K), stride,
                         out + b * kPanelRows * sizeof(BlockQ2_K));
    }
  }
}

}  // namespace

// kPanels32 alternates its panels' lines within each super-block's blocks.
static_assert(kPanelRows * sizeof(BlockQ2_K) % 64 == 0 && kPanelRows * sizeof(BlockQ4_K) % 64 == 0);

bool HasPanelLayout(Format format) {
  return format == Format::kQ2_K || format == Format::kQ4_K || format == Format::kQ8_0 ||
         format == Format::kF16;
}

bool HasPanelLayout(Format format, WeightLayout layout) {
  switch (layout) {
    case WeightLayout::kPanels16:
      return HasPanelLayout(format);
    case WeightLayout::kPanels32:
      return format == Format::kQ2_K || format == Format::kQ4_K;
    case WeightLayout::kRows:
      break;
  }
  return false;
}

void RepackPanels(Format format, WeightLayout layout, int64_t rows, int64_t cols, const void* src,
                  void* dst, ThreadPool* pool) {
  if (!HasPanelLayout(format, layout)) {
    std::fprintf(stderr, "aiscore: RepackPanels: %s has no such panel layout\n",
                 std::string(FormatName(format)).c_str());
    std::abort();
  }
  const size_t row_bytes = RowBytes(format, cols);
  const size_t panel_bytes = kPanelRows * row_bytes;
  // Runs of `run` rows: a panel, or a pair of them (kPanels32) whose panel
  // blocks (`unit` bytes, one per super-block, whole cache lines) are then
  // taken in turn, line by line.
  const int64_t run = layout == WeightLayout::kPanels32 ? 2 * kPanelRows : kPanelRows;
  const int64_t blocks = cols / kSuperBlockSize;
  const size_t unit = blocks == 0 ? 0 : panel_bytes / blocks;
  const int64_t panels = rows / kPanelRows;
  const auto* in = static_cast<const unsigned char*>(src);
  auto* out = static_cast<unsigned char*>(dst);
  pool->ParallelFor((panels * kPanelRows + run - 1) / run, 1, [&](int64_t begin, int64_t end, int) {
    std::vector<unsigned char> gguf(run * row_bytes);  // the GGUF rows, when in place
    std::vector<unsigned char> packed(run * row_bytes);
    for (int64_t g = begin; g < end; ++g) {
      const int64_t first = g * run;
      const int64_t n = std::min<int64_t>(run, panels * kPanelRows - first) / kPanelRows;
      const unsigned char* from = in + first * row_bytes;
      unsigned char* to = out + first * row_bytes;
      if (in == out) {
        std::memcpy(gguf.data(), from, n * panel_bytes);
        from = gguf.data();
      }
      if (n == 1) {  // a panel (kPanels16, or the last 16 rows of kPanels32)
        PackPanel(format, from, row_bytes, cols, to);
        continue;
      }
      for (int64_t p = 0; p < n; ++p) {
        PackPanel(format, from + p * panel_bytes, row_bytes, cols, packed.data() + p * panel_bytes);
      }
      for (int64_t b = 0; b < blocks; ++b) {  // the pair's lines alternate
        for (int64_t p = 0; p < n; ++p) {
          unsigned char* block = to + n * b * unit + 64 * p;
          for (size_t at = 0; at < unit; at += 64) {
            std::memcpy(block + PanelLineOffset(at, 64 * n),
                        packed.data() + p * panel_bytes + b * unit + at, 64);
          }
        }
      }
    }
  });
  if (in != out) {
    const size_t done = panels * panel_bytes;
    std::memcpy(out + done, in + done, rows * row_bytes - done);
  }
}

int PanelRowsAt(WeightLayout layout, int64_t rows, int64_t i0, int nr) {
  if (layout == WeightLayout::kRows) return 0;
  const int64_t in_panels = rows / kPanelRows * kPanelRows - i0;
  return static_cast<int>(std::clamp<int64_t>(in_panels, 0, nr) / kPanelRows * kPanelRows);
}

}  // namespace aiscore
