// The CPU backend: runs the forward-pass ops on host memory with a thread
// pool, using the fastest kernels this CPU supports (or those of a lower ISA
// when asked, for testing and comparison).
//
// Weights are used where they lie (an mmap'd GGUF or synthetic buffer),
// except matrices whose kernel reads them as panels (Q2_K on AVX-512:
// panel_layout.h), repacked once into a copy, or in place when the backend
// synthesizes them (SynthesizeOnDevice). Ops run synchronously; Synchronize() only reports. One
// thread drives a CpuBackend at a time.
#ifndef AISCORE_AGENT_CPU_CPU_BACKEND_H_
#define AISCORE_AGENT_CPU_CPU_BACKEND_H_

#include <memory>
#include <string>
#include <vector>

#include "agent/cpu/cpu_features.h"
#include "agent/cpu/matmul.h"
#include "agent/cpu/thread_pool.h"
#include "agent/cpu/vec_kernels.h"
#include "agent/engine/backend.h"

namespace aiscore {

class CpuBackend : public Backend {
 public:
  // Attention of batches up to this many tokens (decode, speculative
  // verification) runs token by token, so that each token gets the bits a
  // one-token pass gives it (speculation then reproduces greedy decoding
  // exactly); longer batches (prefill) run the flash-style kernel
  // (VecKernels::attention_prefill), whose sums run in another order.
  static constexpr int64_t kTokenwiseAttentionTokens = 16;

  // n_threads <= 0 means one per online CPU.
  explicit CpuBackend(int n_threads = 0, Isa isa = BestIsa());

  std::string name() const override { return "cpu"; }
  std::string device_name() const override;
  BackendDetails details() const override {
    return {std::string(IsaName(isa_)), pool_.size(), /*host_memory=*/true};
  }
  size_t AvailableMemory() const override;
  absl::StatusOr<std::unique_ptr<BandwidthProbe>> CreateBandwidthProbe() override;
  int64_t PeakMemoryBytes() const override;
  void ResetPeakMemory() override;
  std::unique_ptr<DeviceTimer> CreateTimer() override;
  int threads() const { return pool_.size(); }
  Isa isa() const { return isa_; }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override;
  absl::Status CopyToDevice(void* device_dst, const void* host_src, size_t bytes) override;
  absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) override;
  absl::StatusOr<ModelWeights> PrepareWeights(const ModelWeights& host) override;
  absl::StatusOr<ModelWeights> SynthesizeOnDevice(const ModelConfig& config, Format format,
                                                  uint64_t seed) override;

  void Embed(const WeightTensor& table, const int32_t* ids, int64_t n, float* out) override;
  void RmsNorm(const float* x, const WeightTensor& weight, int64_t n, int64_t d, float eps,
               float* out) override;
  void MatMul(const WeightTensor& w, const float* x, int64_t n, float* y) override;
  void MatMuls(std::span<const WeightTensor* const> ws, const float* x, int64_t n,
               std::span<float* const> ys) override;
  // Each KV head's rows together, [n_kv_heads][max_context][head_dim], so
  // that decode attention reads a head's keys and its values as two streams.
  int64_t KvCacheOffset(const AttentionShape& s, int64_t pos, int64_t g) const override {
    return (g * s.max_context + pos) * s.head_dim;
  }
  void RopeAndStoreKv(float* q, float* k, const float* v, int64_t n, int64_t pos,
                      const AttentionShape& shape, uint16_t* k_cache, uint16_t* v_cache) override;
  void Attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, int64_t n,
                 int64_t pos, const AttentionShape& shape, float* out) override;
  void SwiGlu(const float* gate, const float* up, int64_t count, float* out) override;
  void Add(float* x, const float* y, int64_t count) override;
  void Argmax(const float* x, int64_t n, int64_t cols, int32_t* out) override;
  absl::Status Synchronize() override { return absl::OkStatus(); }

 private:
  // Whether tensor t of w, in GGUF rows, is to be repacked into panels.
  bool WantsPanels(const WeightTensor& t, const ModelWeights& w) const;
  // cos/sin of pos * theta^(-2i/head_dim) for positions [0, positions), computed in FP64.
  void EnsureRopeTable(int64_t positions, int64_t head_dim, float theta);

  ThreadPool pool_;
  Isa isa_;
  CpuMatMul matmul_;
  const VecKernels& vec_;
  std::vector<std::vector<float>> decode_scratch_;   // [thread]: AttentionDecodeRun
  std::vector<float> decode_parts_;                  // [run]: AttentionDecodePart of each run
  std::vector<std::vector<float>> prefill_scratch_;  // [thread]: VecKernels::attention_prefill
  std::vector<float> rope_cos_, rope_sin_;           // [positions][head_dim / 2]
  int64_t rope_positions_ = 0, rope_head_dim_ = 0;
  float rope_theta_ = 0.0f;
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_CPU_BACKEND_H_
