// A 2-D weight matrix in one format, viewed in memory someone else owns.
//
// In the GGUF layout rows are contiguous: row r starts at data + r *
// row_bytes(). A vector (norm weights) is one row. A backend may hold its
// copy in a layout of its own (layout), which only it reads; the bytes are
// as many either way. The memory belongs to the ModelWeights that holds the
// tensor (an aligned allocation or a mapped GGUF file).
#ifndef AISCORE_AGENT_ENGINE_WEIGHT_TENSOR_H_
#define AISCORE_AGENT_ENGINE_WEIGHT_TENSOR_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "agent/quant/format.h"

namespace aiscore {

// How a tensor's bytes are ordered.
enum class WeightLayout {
  kRows,  // GGUF: row after row
  // The CPU backend's: each run of 16 rows interleaved super-block by
  // super-block, rows past the last full 16 as kRows (agent/cpu/panel_layout.h).
  kPanels16,
  // The same, with each run of 32 rows two such panels taken super-block by
  // super-block in turn (K-quants; agent/cpu/panel_layout.h).
  kPanels32,
};

struct WeightTensor {
  std::string name;              // GGUF name, e.g. "blk.0.attn_q.weight"
  Format format = Format::kF32;  // format of every row
  int64_t rows = 0;              // GGUF ne[1] (1 for vectors)
  int64_t cols = 0;              // GGUF ne[0], the dimension dot products run over
  const void* data = nullptr;    // [rows][row_bytes()] bytes
  WeightLayout layout = WeightLayout::kRows;

  size_t row_bytes() const { return RowBytes(format, cols); }
  size_t bytes() const { return row_bytes() * static_cast<size_t>(rows); }
  int64_t elements() const { return rows * cols; }
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_WEIGHT_TENSOR_H_
