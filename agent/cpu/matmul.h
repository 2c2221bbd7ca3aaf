// Y = X W^T on the CPU: converts activations once, then splits weight rows
// over the thread pool and walks (row-chunk x token-tile) tiles so that a
// chunk of weights stays in cache while every token passes over it.
//
// A CpuMatMul owns its scratch (converted activations) and is used by one
// thread at a time (the one that drives the pool).
#ifndef AISCORE_AGENT_CPU_MATMUL_H_
#define AISCORE_AGENT_CPU_MATMUL_H_

#include <cstdint>
#include <span>
#include <vector>

#include "agent/cpu/cpu_features.h"
#include "agent/cpu/thread_pool.h"
#include "agent/engine/weight_tensor.h"

namespace aiscore {

class CpuMatMul {
 public:
  // Uses the best kernels at or below `isa` for each format.
  CpuMatMul(ThreadPool* pool, Isa isa) : pool_(pool), isa_(isa) {}

  // y[n][w.rows] = x[n][w.cols] . w^T. x and y must not overlap.
  void Run(const WeightTensor& w, const float* x, int64_t n, float* y);
  // Run(*ws[i], x, n, ys[i]) for each i, with the same results. Where one
  // kernel reads them all (the same format, width and layout) and n is one
  // token tile, the activations are converted once and every tensor's rows
  // are one stretch of work for the pool: one region instead of one each.
  void RunShared(std::span<const WeightTensor* const> ws, const float* x, int64_t n,
                 std::span<float* const> ys);

  Isa isa() const { return isa_; }

 private:
  ThreadPool* pool_;
  Isa isa_;
  std::vector<unsigned char> activations_;  // [n][activation_row_bytes(cols)]
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_MATMUL_H_
