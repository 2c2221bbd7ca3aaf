// The contract every CPU matrix-multiply kernel meets, and the lookup that
// picks one per (weight format, ISA).
//
// A kernel computes a tile of dot products between weight rows (stored in
// the weight format, GGUF layout) and activation rows (floats converted once
// per matmul into the kernel's activation layout: f32 for F32/F16 weights,
// Q8_0 blocks for Q8_0, Q8_K blocks for the K-quants). Kernels are pure
// functions, safe to call from any number of threads on disjoint outputs.
#ifndef AISCORE_AGENT_CPU_MATMUL_KERNEL_H_
#define AISCORE_AGENT_CPU_MATMUL_KERNEL_H_

#include <cstddef>
#include <cstdint>

#include "agent/cpu/cpu_features.h"
#include "agent/engine/weight_tensor.h"
#include "agent/quant/format.h"

namespace aiscore {

struct MatMulKernel {
  Format format;  // weight format
  Isa isa;        // instruction set the kernel needs
  // Converts one row of `cols` floats (cols a multiple of the format's block
  // size) into activation_row_bytes(cols) bytes of activation layout.
  void (*convert_activations)(const float* x, int64_t cols, void* out);
  size_t (*activation_row_bytes)(int64_t cols);
  // For i < nr, j < nc: out[j * out_stride + i] = dot(weight row i, activation row j)
  // over `cols` elements. Weight row i starts at w + i * w_stride bytes,
  // activation row j at a + j * a_stride bytes. nr <= tile_rows, nc <= tile_cols.
  void (*tile)(int64_t cols, const void* w, size_t w_stride, int nr, const void* a, size_t a_stride,
               int nc, float* out, size_t out_stride);
  int tile_rows;  // largest nr the tile takes (and the one it is fastest at)
  int tile_cols;  // largest nc the tile takes
  // Optional, for prefill (more than tile_cols activation rows): nonzero when
  // the tile may run on a slice of the columns [k0, k0 + kc) with k0 and kc
  // multiples of this, the weight rows offset by RowBytes(format, k0)
  // and the activation rows by activation_row_bytes(k0) (layouts that are
  // plain arrays of elements or blocks). CpuMatMul then walks long rows in
  // slices, so that the activations every row tile reads stay in cache.
  int64_t k_slice_align = 0;
  // Optional: the tile on weights in the panel layout `panel_layout`
  // (panel_layout.h), the same contract as `tile` with w at the start of a
  // run of nr rows in panels: a panel (nr == 16), or for kPanels32 a pair of
  // panels (nr == 32, tile_rows 32) or a last lone panel (nr == 16). CpuBackend
  // repacks a matrix whose kernel has one, and CpuMatMul calls it on the rows
  // in panels (PanelRowsAt) and `tile` on the rows past them. With
  // k_slice_align (kPanels16 only), it takes slices as `tile` does, w then
  // offset by kPanelRows * RowBytes(format, k0) into the panel.
  void (*panel_tile)(int64_t cols, const void* w, size_t w_stride, int nr, const void* a,
                     size_t a_stride, int nc, float* out, size_t out_stride) = nullptr;
  WeightLayout panel_layout = WeightLayout::kPanels16;
};

// The kernel of exactly this (format, isa), or nullptr where there is none.
// Check IsaSupported(isa) before calling its functions.
const MatMulKernel* FindMatMulKernel(Format format, Isa isa);
// The kernel of the highest ISA at or below `isa` that has one for `format`
// and that this CPU supports. Every format has a scalar kernel.
const MatMulKernel& BestMatMulKernel(Format format, Isa isa);

// Kernels are plain data objects named k<Format><Isa>Kernel, each defined in
// the file of its (format, ISA) and listed once in matmul_kernel.cc. Taking
// their address runs no ISA-specific code.

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_MATMUL_KERNEL_H_
