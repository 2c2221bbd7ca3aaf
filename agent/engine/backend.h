// The interface the engine runs a model through: memory on a device and the
// operations of a Llama forward pass over it.
//
// A backend owns a device (the host CPU, a GPU). Pointers passed to ops are
// device memory from Allocate() or PrepareWeights(); ops may run
// asynchronously, in issue order, and report failures at the next
// Synchronize(). A backend is driven by one thread at a time. Which backends
// exist is known only to backend_registry.h.
#ifndef AISCORE_AGENT_ENGINE_BACKEND_H_
#define AISCORE_AGENT_ENGINE_BACKEND_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/engine/model_config.h"
#include "agent/engine/model_weights.h"
#include "agent/engine/weight_tensor.h"

namespace aiscore {

// A block of device memory; freed when destroyed.
class DeviceBuffer {
 public:
  virtual ~DeviceBuffer() = default;
  virtual void* data() = 0;
  virtual size_t size() const = 0;
};

// Measures the rate at which a device streams its own memory, keeping its
// buffer (about 1 GiB of device memory) from one measurement to the next, so
// that it can be read often, between decode steps, at little cost.
class BandwidthProbe {
 public:
  virtual ~BandwidthProbe() = default;
  // Bytes per second now: the median of a few passes over the buffer, after
  // an untimed one.
  virtual absl::StatusOr<double> Measure() = 0;
};

// Geometry of attention for RopeAndStoreKv and Attention.
struct AttentionShape {
  int64_t n_heads = 0;     // query heads
  int64_t n_kv_heads = 0;  // key/value heads; query head h reads kv head h / (n_heads / n_kv_heads)
  int64_t head_dim = 0;    // even
  float rope_theta = 0.0f;  // rotary base
  int64_t max_context = 0;  // rows of each layer's cache
};

// Measures the device time of the ops issued between Start() and Stop(): on
// a GPU with events in the op stream, on the CPU with a steady clock (ops
// there are synchronous). Stop() waits for the ops to finish.
class DeviceTimer {
 public:
  virtual ~DeviceTimer() = default;
  virtual void Start() = 0;
  virtual absl::StatusOr<double> Stop() = 0;  // seconds since Start()
};

// How a backend runs, for results: empty/0 where it does not apply.
struct BackendDetails {
  std::string kernels;       // CPU kernel path: "scalar", "avx2", "avxvnni", "avx512"
  int threads = 0;           // CPU threads
  bool host_memory = false;  // device memory is the host's: loaded weights count against both
  bool synthesizes_weights = false;  // SynthesizeOnDevice makes synthetic models in device memory
};

class Backend {
 public:
  virtual ~Backend() = default;

  virtual std::string name() const = 0;         // "cpu", "cuda"
  virtual std::string device_name() const = 0;  // CPU model or GPU name
  virtual BackendDetails details() const = 0;
  // Bytes a new allocation can take on the device now.
  virtual size_t AvailableMemory() const = 0;
  // A probe of the rate at which the device streams its own memory, far
  // beyond its caches and as decode reads weights: the ceiling of decode.
  virtual absl::StatusOr<std::unique_ptr<BandwidthProbe>> CreateBandwidthProbe() = 0;
  // One measurement, with a probe made for it (so it takes a moment).
  absl::StatusOr<double> MeasureMemoryBandwidth() {
    absl::StatusOr<std::unique_ptr<BandwidthProbe>> probe = CreateBandwidthProbe();
    if (!probe.ok()) return probe.status();
    return (*probe)->Measure();
  }

  // Peak bytes of memory in use on the device since the last ResetPeakMemory
  // (on the CPU: the process's peak resident set). 0 when unknown.
  virtual int64_t PeakMemoryBytes() const = 0;
  virtual void ResetPeakMemory() = 0;
  virtual std::unique_ptr<DeviceTimer> CreateTimer() = 0;

  virtual absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) = 0;
  virtual absl::Status CopyToDevice(void* device_dst, const void* host_src, size_t bytes) = 0;
  virtual absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) = 0;

  // The same model with every tensor in device memory (uploaded, or on the
  // CPU shared as it is). The result's storage keeps the device copy alive.
  virtual absl::StatusOr<ModelWeights> PrepareWeights(const ModelWeights& host) = 0;
  // The model SynthesizeWeights(config, format, seed) makes, made directly in
  // device memory, byte for byte the same (synthetic_weights.h) or, for
  // tensors the backend keeps in a layout of its own, the same bytes in that
  // layout (as PrepareWeights would leave them). Unimplemented
  // where the backend has no such generator; the caller then synthesizes on
  // the host (SynthesizeWeightsFor does both).
  virtual absl::StatusOr<ModelWeights> SynthesizeOnDevice(const ModelConfig& config, Format format,
                                                          uint64_t seed) {
    return absl::UnimplementedError(name() + " has no device-side weight generator");
  }

  // out[i][:] = dequantized row ids[i] of table; out is [n][table.cols].
  virtual void Embed(const WeightTensor& table, const int32_t* ids, int64_t n, float* out) = 0;
  // out[i] = x[i] / sqrt(mean(x[i]^2) + eps) * weight, for n rows of d floats.
  virtual void RmsNorm(const float* x, const WeightTensor& weight, int64_t n, int64_t d, float eps,
                       float* out) = 0;
  // y[n][w.rows] = x[n][w.cols] . w^T
  virtual void MatMul(const WeightTensor& w, const float* x, int64_t n, float* y) = 0;
  // MatMul(*ws[i], x, n, ys[i]) for each i, with the same results: matmuls
  // that read the same activations, which a backend may run as one.
  virtual void MatMuls(std::span<const WeightTensor* const> ws, const float* x, int64_t n,
                       std::span<float* const> ys) {
    for (size_t i = 0; i < ws.size(); ++i) MatMul(*ws[i], x, n, ys[i]);
  }
  // Where the head_dim halves of cache position pos and KV head g start in
  // one layer's key (or value) cache: by default the rows of positions,
  // [max_context][n_kv_heads][head_dim]. Only the backend itself reads its
  // caches; tests that hand one backend's cache to another relay it by this.
  virtual int64_t KvCacheOffset(const AttentionShape& s, int64_t pos, int64_t g) const {
    return (pos * s.n_kv_heads + g) * s.head_dim;
  }
  // Rotates q [n][n_heads][head_dim] in place and k [n][n_kv_heads][head_dim]
  // in place for positions pos .. pos+n-1 (adjacent pairs (2i, 2i+1) by
  // pos * theta^(-2i/head_dim), as llama.cpp does for GGUF `llama` models),
  // then stores k and v [n][n_kv_heads*head_dim] as F16 at those positions of
  // one layer's caches, each max_context * n_kv_heads * head_dim halves laid
  // out as KvCacheOffset says.
  virtual void RopeAndStoreKv(float* q, float* k, const float* v, int64_t n, int64_t pos,
                              const AttentionShape& shape, uint16_t* k_cache,
                              uint16_t* v_cache) = 0;
  // Causal grouped-query attention of queries at positions pos .. pos+n-1
  // over cache positions 0 .. pos+i: out [n][n_heads*head_dim].
  virtual void Attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache,
                         int64_t n, int64_t pos, const AttentionShape& shape, float* out) = 0;
  // out[i] = silu(gate[i]) * up[i]
  virtual void SwiGlu(const float* gate, const float* up, int64_t count, float* out) = 0;
  // x[i] += y[i]
  virtual void Add(float* x, const float* y, int64_t count) = 0;
  // out[i] = index of the largest of x[i][0 .. cols) (the first, on ties).
  virtual void Argmax(const float* x, int64_t n, int64_t cols, int32_t* out) = 0;

  // Waits for every issued op; returns the first failure since the last call.
  virtual absl::Status Synchronize() = 0;
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_BACKEND_H_
