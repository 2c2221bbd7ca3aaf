#include "agent/cuda/cuda_backend.h"

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <atomic>
#include <span>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/cuda/add.cuh"
#include "agent/cuda/argmax.cuh"
#include "agent/cuda/attention.cuh"
#include "agent/cuda/cuda_status.h"
#include "agent/cuda/embed.cuh"
#include "agent/cuda/gemm.h"
#include "agent/cuda/mat_vec.cuh"
#include "agent/cuda/read_bandwidth.cuh"
#include "agent/cuda/rms_norm.cuh"
#include "agent/cuda/rope_kv.cuh"
#include "agent/cuda/swiglu.cuh"
#include "agent/cuda/synthesize.cuh"
#include "agent/engine/align.h"
#include "agent/engine/synthetic_weights.h"

namespace aiscore {
namespace {

constexpr size_t kAlignment = 256;  // every tensor and buffer starts on this
// Memory AvailableMemory() keeps back for what CUDA and cuBLAS allocate
// themselves and for the rope table's growth.
constexpr size_t kReserveBytes = size_t{96} << 20;
// Scratch the backend allocates once: cuBLAS workspace, dequantized weight
// rows, F16 activations, attention partial results.
constexpr size_t kCublasWorkspaceBytes = size_t{32} << 20;
constexpr int64_t kGemmWeightHalves = int64_t{32} << 20;       // 64 MiB
constexpr int64_t kGemmActivationHalves = int64_t{8} << 20;    // 16 MiB
constexpr int64_t kAttentionScratchFloats = int64_t{4} << 20;  // 16 MiB
// Activations quantized for the integer decode kernels: up to
// kMaxMatVecTokens tokens of this many values (wider matrices take the
// plain kernel).
constexpr int64_t kQuantizedActivationCols = int64_t{64} << 10;

std::string Gib(double bytes) { return absl::StrFormat("%.2f GiB", bytes / 1073741824.0); }

// Bytes this backend has allocated, now and at most; shared with its
// buffers, which may outlive it.
struct MemoryCounter {
  std::atomic<int64_t> current{0};
  std::atomic<int64_t> peak{0};
  void Add(int64_t bytes) {
    const int64_t now = current += bytes;
    int64_t seen = peak.load();
    while (now > seen && !peak.compare_exchange_weak(seen, now)) {
    }
  }
};

// Allocates `bytes` of device memory counted in `counter`; the shared_ptr
// frees it. ResourceExhausted with the sizes when the device is full.
absl::StatusOr<std::shared_ptr<void>> DeviceAlloc(size_t bytes,
                                                  const std::shared_ptr<MemoryCounter>& counter) {
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, std::max<size_t>(bytes, 1));
  if (e != cudaSuccess) {
    cudaGetLastError();  // an allocation failure is not sticky; clear it
    size_t free = 0, total = 0;
    cudaMemGetInfo(&free, &total);
    absl::Status s = AISCORE_CUDA_STATUS(e);
    if (absl::IsResourceExhausted(s)) {
      return absl::ResourceExhaustedError(absl::StrCat("cannot allocate ", Gib(bytes),
                                                       " on the GPU (", Gib(free), " free of ",
                                                       Gib(total), "): it does not fit"));
    }
    return s;
  }
  counter->Add(static_cast<int64_t>(bytes));
  return std::shared_ptr<void>(p, [counter, bytes](void* q) {
    cudaFree(q);
    counter->current -= static_cast<int64_t>(bytes);
  });
}

class CudaBuffer : public DeviceBuffer {
 public:
  CudaBuffer(std::shared_ptr<void> memory, size_t size) : memory_(std::move(memory)), size_(size) {}
  void* data() override { return memory_.get(); }
  size_t size() const override { return size_; }

 private:
  std::shared_ptr<void> memory_;
  size_t size_;
};

class CudaTimer : public DeviceTimer {
 public:
  explicit CudaTimer(cudaStream_t stream) : stream_(stream) {
    cudaEventCreate(&start_);
    cudaEventCreate(&stop_);
  }
  ~CudaTimer() override {
    cudaEventDestroy(start_);
    cudaEventDestroy(stop_);
  }
  void Start() override { cudaEventRecord(start_, stream_); }
  absl::StatusOr<double> Stop() override {
    if (absl::Status s = AISCORE_CUDA_STATUS(cudaEventRecord(stop_, stream_)); !s.ok()) return s;
    if (absl::Status s = AISCORE_CUDA_STATUS(cudaEventSynchronize(stop_)); !s.ok()) return s;
    float ms = 0;
    if (absl::Status s = AISCORE_CUDA_STATUS(cudaEventElapsedTime(&ms, start_, stop_)); !s.ok()) {
      return s;
    }
    return ms / 1000.0;
  }

 private:
  cudaStream_t stream_;
  cudaEvent_t start_ = nullptr, stop_ = nullptr;
};

// Reads a device buffer of `bytes` (plus a 16-byte sink past it) with every
// multiprocessor, timed by events on `stream`.
class CudaBandwidthProbe : public BandwidthProbe {
 public:
  CudaBandwidthProbe(std::shared_ptr<void> buffer, size_t bytes, int multiprocessors,
                     cudaStream_t stream)
      : buffer_(std::move(buffer)),
        bytes_(bytes),
        multiprocessors_(multiprocessors),
        stream_(stream) {}

  absl::StatusOr<double> Measure() override {
    auto* sink = reinterpret_cast<uint32_t*>(static_cast<char*>(buffer_.get()) + bytes_);
    CudaTimer timer(stream_);
    std::vector<double> rates;
    for (int i = 0; i < 8; ++i) {  // the first pass warms up
      timer.Start();
      if (absl::Status s = AISCORE_CUDA_STATUS(
              cuda::LaunchReadBuffer(buffer_.get(), bytes_, sink, multiprocessors_, stream_));
          !s.ok()) {
        return s;
      }
      absl::StatusOr<double> seconds = timer.Stop();
      if (!seconds.ok()) return seconds.status();
      if (i > 0 && *seconds > 0) rates.push_back(static_cast<double>(bytes_) / *seconds);
    }
    if (rates.empty()) return absl::InternalError("the GPU read timer measured nothing");
    std::sort(rates.begin(), rates.end());
    return rates[rates.size() / 2];
  }

 private:
  std::shared_ptr<void> buffer_;
  size_t bytes_;
  int multiprocessors_;
  cudaStream_t stream_;
};

class CudaBackend : public Backend {
 public:
  ~CudaBackend() override {
    if (stream_ != nullptr) cudaStreamSynchronize(stream_);
    scratch_.clear();
    rope_table_.reset();
    if (cublas_ != nullptr) cublasDestroy(cublas_);
    if (stream_ != nullptr) cudaStreamDestroy(stream_);
  }

  static absl::StatusOr<std::unique_ptr<Backend>> Create(int device) {
    std::unique_ptr<CudaBackend> b(new CudaBackend(device));
    if (absl::Status s = b->Init(); !s.ok()) return s;
    return std::unique_ptr<Backend>(std::move(b));
  }

  std::string name() const override { return "cuda"; }
  std::string device_name() const override { return props_.name; }
  BackendDetails details() const override {
    BackendDetails d;
    d.kernels = absl::StrCat("sm_", props_.major, props_.minor);
    d.synthesizes_weights = true;
    return d;
  }

  size_t AvailableMemory() const override {
    size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) {
      cudaGetLastError();
      return 0;
    }
    return free > kReserveBytes ? free - kReserveBytes : 0;
  }

  absl::StatusOr<std::unique_ptr<BandwidthProbe>> CreateBandwidthProbe() override {
    // 1 GiB, or a quarter of what is free: far larger than any L2 cache.
    const size_t bytes = std::min<size_t>(size_t{1} << 30, AvailableMemory() / 4) / 16 * 16;
    if (bytes < (size_t{64} << 20)) {
      return absl::ResourceExhaustedError("too little free GPU memory to measure its bandwidth");
    }
    absl::StatusOr<std::shared_ptr<void>> buffer = DeviceAlloc(bytes + 16, memory_);
    if (!buffer.ok()) return buffer.status();
    if (absl::Status s = AISCORE_CUDA_STATUS(cudaMemsetAsync(buffer->get(), 1, bytes, stream_));
        !s.ok()) {
      return s;
    }
    return std::unique_ptr<BandwidthProbe>(
        new CudaBandwidthProbe(*std::move(buffer), bytes, props_.multiProcessorCount, stream_));
  }

  int64_t PeakMemoryBytes() const override { return memory_->peak.load(); }
  void ResetPeakMemory() override { memory_->peak = memory_->current.load(); }
  std::unique_ptr<DeviceTimer> CreateTimer() override {
    return std::make_unique<CudaTimer>(stream_);
  }

  absl::StatusOr<std::unique_ptr<DeviceBuffer>> Allocate(size_t bytes) override {
    absl::StatusOr<std::shared_ptr<void>> memory = DeviceAlloc(bytes, memory_);
    if (!memory.ok()) return memory.status();
    return std::make_unique<CudaBuffer>(*std::move(memory), bytes);
  }

  absl::Status CopyToDevice(void* device_dst, const void* host_src, size_t bytes) override {
    return AISCORE_CUDA_STATUS(
        cudaMemcpyAsync(device_dst, host_src, bytes, cudaMemcpyHostToDevice, stream_));
  }

  absl::Status CopyToHost(void* host_dst, const void* device_src, size_t bytes) override {
    if (absl::Status s = AISCORE_CUDA_STATUS(
            cudaMemcpyAsync(host_dst, device_src, bytes, cudaMemcpyDeviceToHost, stream_));
        !s.ok()) {
      return s;
    }
    return Synchronize();
  }

  absl::StatusOr<ModelWeights> PrepareWeights(const ModelWeights& host) override {
    if (absl::Status s = CheckSupported(host.config); !s.ok()) return s;
    if (OnThisDevice(host.token_embd.data)) return host;  // made by SynthesizeOnDevice
    ModelWeights device = host;
    std::vector<WeightTensor*> tensors = device.MutableTensors();
    absl::StatusOr<std::shared_ptr<void>> storage = AllocateModel(device);
    if (!storage.ok()) return storage.status();
    auto* base = static_cast<char*>(storage->get());
    size_t offset = 0;
    for (WeightTensor* t : tensors) {
      if (absl::Status s = AISCORE_CUDA_STATUS(
              cudaMemcpyAsync(base + offset, t->data, t->bytes(), cudaMemcpyHostToDevice, stream_));
          !s.ok()) {
        return s;
      }
      t->data = base + offset;
      offset += AlignUp(t->bytes(), kAlignment);
    }
    if (absl::Status s = Synchronize(); !s.ok()) return s;
    device.storage = *std::move(storage);
    return device;
  }

  absl::StatusOr<ModelWeights> SynthesizeOnDevice(const ModelConfig& config, Format format,
                                                  uint64_t seed) override {
    if (absl::Status s = CheckSupported(config); !s.ok()) return s;
    absl::StatusOr<ModelWeights> described = DescribeWeights(config, format);
    if (!described.ok()) return described.status();
    ModelWeights w = *std::move(described);
    absl::StatusOr<std::shared_ptr<void>> storage = AllocateModel(w);
    if (!storage.ok()) return storage.status();
    auto* base = static_cast<char*>(storage->get());
    std::vector<WeightTensor*> tensors = w.MutableTensors();
    size_t offset = 0;
    for (size_t i = 0; i < tensors.size(); ++i) {
      WeightTensor& t = *tensors[i];
      t.data = base + offset;
      offset += AlignUp(t.bytes(), kAlignment);
    }
    for (size_t i = 0; i < tensors.size(); ++i) {
      const WeightTensor& t = *tensors[i];
      const SyntheticTensorPlan plan = SyntheticPlan(w, t);
      const cuda::SyntheticTensor spec{t.format, t.elements(), seed, i, plan.stddev, plan.ones};
      if (absl::Status s = AISCORE_CUDA_STATUS(
              cuda::LaunchSynthesizeTensor(spec, const_cast<void*>(t.data), stream_));
          !s.ok()) {
        return s;
      }
    }
    if (absl::Status s = Synchronize(); !s.ok()) return s;
    w.storage = *std::move(storage);
    return w;
  }

  void Embed(const WeightTensor& table, const int32_t* ids, int64_t n, float* out) override {
    Record(AISCORE_CUDA_STATUS(cuda::LaunchEmbed(table, ids, n, out, stream_)));
  }

  void RmsNorm(const float* x, const WeightTensor& weight, int64_t n, int64_t d, float eps,
               float* out) override {
    Record(AISCORE_CUDA_STATUS(
        cuda::LaunchRmsNorm(x, static_cast<const float*>(weight.data), n, d, eps, out, stream_)));
  }

  void MatMul(const WeightTensor& w, const float* x, int64_t n, float* y) override {
    if (TakesQuantized(w, n)) {
      MatVecQuantized(w, x, n, y, /*quantized=*/false);
    } else if (n <= cuda::kMaxMatVecTokens) {
      Record(AISCORE_CUDA_STATUS(cuda::LaunchMatVec(w, x, n, y, stream_)));
    } else {
      Record(cuda::RunGemm(cublas_, w, x, n, y, gemm_, stream_));
    }
  }

  // Products of the same activations (q, k and v; gate and up) quantize them
  // once, unless a product overwrites them.
  void MatMuls(std::span<const WeightTensor* const> ws, const float* x, int64_t n,
               std::span<float* const> ys) override {
    int64_t quantized_cols = 0;  // x is in quantized_ with this many values a token
    for (size_t i = 0; i < ws.size(); ++i) {
      const WeightTensor& w = *ws[i];
      if (TakesQuantized(w, n)) {
        MatVecQuantized(w, x, n, ys[i], quantized_cols == w.cols);
        quantized_cols = w.cols;
      } else {
        MatMul(w, x, n, ys[i]);
      }
      const bool apart = ys[i] + n * w.rows <= x || x + n * w.cols <= ys[i];
      if (!apart) quantized_cols = 0;
    }
  }

  void RopeAndStoreKv(float* q, float* k, const float* v, int64_t n, int64_t pos,
                      const AttentionShape& s, uint16_t* k_cache, uint16_t* v_cache) override {
    if (absl::Status st = EnsureRopeTable(pos + n, s.head_dim, s.rope_theta); !st.ok()) {
      Record(st);
      return;
    }
    Record(AISCORE_CUDA_STATUS(cuda::LaunchRopeAndStoreKv(
        q, k, v, n, pos, s.n_heads, s.n_kv_heads, s.head_dim,
        static_cast<const float2*>(rope_table_.get()), k_cache, v_cache, stream_)));
  }

  void Attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache, int64_t n,
                 int64_t pos, const AttentionShape& s, float* out) override {
    const cuda::AttentionGeometry g{n, pos, s.n_heads, s.n_kv_heads, s.head_dim};
    const int64_t splits =
        cuda::AttentionSplits(g, props_.multiProcessorCount, kAttentionScratchFloats);
    Record(AISCORE_CUDA_STATUS(
        cuda::LaunchAttention(q, k_cache, v_cache, g, splits, attention_scratch_, out, stream_)));
  }

  void SwiGlu(const float* gate, const float* up, int64_t count, float* out) override {
    Record(AISCORE_CUDA_STATUS(cuda::LaunchSwiGlu(gate, up, count, out, stream_)));
  }

  void Add(float* x, const float* y, int64_t count) override {
    Record(AISCORE_CUDA_STATUS(cuda::LaunchAdd(x, y, count, stream_)));
  }

  void Argmax(const float* x, int64_t n, int64_t cols, int32_t* out) override {
    Record(AISCORE_CUDA_STATUS(cuda::LaunchArgmax(x, n, cols, out, stream_)));
  }

  absl::Status Synchronize() override {
    Record(AISCORE_CUDA_STATUS(cudaStreamSynchronize(stream_)));
    absl::Status first = std::move(first_error_);
    first_error_ = absl::OkStatus();
    return first;
  }

 private:
  explicit CudaBackend(int device) : device_(device), memory_(std::make_shared<MemoryCounter>()) {}

  absl::Status Init() {
    int count = 0;
    if (absl::Status s = AISCORE_CUDA_STATUS(cudaGetDeviceCount(&count)); !s.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("no CUDA device can be used: ", s.message()));
    }
    if (device_ < 0 || device_ >= count) {
      return absl::FailedPreconditionError(
          absl::StrFormat("there is no CUDA device %d: this machine has %d", device_, count));
    }
    if (absl::Status s = AISCORE_CUDA_STATUS(cudaSetDevice(device_)); !s.ok()) return s;
    if (absl::Status s = AISCORE_CUDA_STATUS(cudaGetDeviceProperties(&props_, device_)); !s.ok()) {
      return s;
    }
    if (absl::Status s =
            AISCORE_CUDA_STATUS(cudaStreamCreateWithFlags(&stream_, cudaStreamNonBlocking));
        !s.ok()) {
      return s;
    }
    if (absl::Status s = AISCORE_CUBLAS_STATUS(cublasCreate(&cublas_)); !s.ok()) return s;
    if (absl::Status s = AISCORE_CUBLAS_STATUS(cublasSetStream(cublas_, stream_)); !s.ok()) {
      return s;
    }
    absl::StatusOr<void*> workspace = Scratch(kCublasWorkspaceBytes);
    absl::StatusOr<void*> weights = Scratch(kGemmWeightHalves * sizeof(__half));
    absl::StatusOr<void*> activations = Scratch(kGemmActivationHalves * sizeof(__half));
    absl::StatusOr<void*> attention = Scratch(kAttentionScratchFloats * sizeof(float));
    constexpr int64_t kQuantizedValues = cuda::kMaxMatVecTokens * kQuantizedActivationCols;
    absl::StatusOr<void*> quantized_values = Scratch(kQuantizedValues);
    absl::StatusOr<void*> quantized_blocks =
        Scratch(kQuantizedValues / cuda::kQuantizedActivationBlock * sizeof(float4));
    for (const auto* r :
         {&workspace, &weights, &activations, &attention, &quantized_values, &quantized_blocks}) {
      if (!r->ok()) return r->status();
    }
    if (absl::Status s =
            AISCORE_CUBLAS_STATUS(cublasSetWorkspace(cublas_, *workspace, kCublasWorkspaceBytes));
        !s.ok()) {
      return s;
    }
    gemm_ = {static_cast<__half*>(*weights), kGemmWeightHalves, static_cast<__half*>(*activations),
             kGemmActivationHalves};
    attention_scratch_ = static_cast<float*>(*attention);
    quantized_ = {static_cast<int8_t*>(*quantized_values), static_cast<float4*>(*quantized_blocks),
                  kQuantizedValues};
    return absl::OkStatus();
  }

  absl::StatusOr<void*> Scratch(size_t bytes) {
    absl::StatusOr<std::shared_ptr<void>> m = DeviceAlloc(bytes, memory_);
    if (!m.ok()) return m.status();
    scratch_.push_back(*m);
    return m->get();
  }

  // The first failure since the last Synchronize() is kept.
  void Record(absl::Status s) {
    if (!s.ok() && first_error_.ok()) first_error_ = std::move(s);
  }

  bool TakesQuantized(const WeightTensor& w, int64_t n) const {
    return n <= cuda::kMaxMatVecTokens && w.cols <= kQuantizedActivationCols &&
           cuda::MatVecTakesQuantizedActivations(w);
  }

  // y = x . w^T through the integer kernels, x quantized first unless
  // `quantized` (x's n tokens of w.cols values are in quantized_ already).
  void MatVecQuantized(const WeightTensor& w, const float* x, int64_t n, float* y, bool quantized) {
    cudaError_t e = cudaSuccess;
    if (!quantized) e = cuda::LaunchQuantizeActivations(x, n, w.cols, quantized_, stream_);
    if (e == cudaSuccess) e = cuda::LaunchMatVecQuantized(w, quantized_, n, y, stream_);
    Record(AISCORE_CUDA_STATUS(e));
  }

  absl::Status CheckSupported(const ModelConfig& c) const {
    const int64_t hd = c.head_dim();
    if (hd % 32 != 0 || hd > cuda::kMaxAttentionHeadDim) {
      return absl::UnimplementedError(absl::StrFormat(
          "the CUDA backend's attention needs a head dimension that is a multiple of 32 up to "
          "%d; model '%s' has %d",
          cuda::kMaxAttentionHeadDim, c.name, hd));
    }
    return absl::OkStatus();
  }

  bool OnThisDevice(const void* p) const {
    cudaPointerAttributes a{};
    if (p == nullptr || cudaPointerGetAttributes(&a, p) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return a.type == cudaMemoryTypeDevice && a.device == device_;
  }

  // One allocation for every tensor of `w`, each aligned; says "does not
  // fit" before trying when the device has too little free.
  absl::StatusOr<std::shared_ptr<void>> AllocateModel(const ModelWeights& w) {
    size_t total = 0;
    for (const WeightTensor* t : w.Tensors()) total += AlignUp(t->bytes(), kAlignment);
    const size_t available = AvailableMemory();
    if (total > available) {
      return absl::ResourceExhaustedError(
          absl::StrCat("model '", w.config.name, "' needs ", Gib(total), " for its weights, but ",
                       props_.name, " has ", Gib(available), " available: it does not fit"));
    }
    return DeviceAlloc(total, memory_);
  }

  absl::Status EnsureRopeTable(int64_t positions, int64_t head_dim, float theta) {
    if (positions <= rope_positions_ && head_dim == rope_head_dim_ && theta == rope_theta_) {
      return absl::OkStatus();
    }
    const bool same = head_dim == rope_head_dim_ && theta == rope_theta_;
    positions = std::max(positions, same ? 2 * rope_positions_ : positions);
    const size_t bytes = static_cast<size_t>(positions) * (head_dim / 2) * sizeof(float2);
    absl::StatusOr<std::shared_ptr<void>> table = DeviceAlloc(bytes, memory_);
    if (!table.ok()) return table.status();
    if (absl::Status s = AISCORE_CUDA_STATUS(cuda::LaunchRopeTable(
            positions, head_dim, theta, static_cast<float2*>(table->get()), stream_));
        !s.ok()) {
      return s;
    }
    // The old table may still be read by queued kernels: wait before freeing it.
    if (rope_table_ != nullptr) {
      if (absl::Status s = AISCORE_CUDA_STATUS(cudaStreamSynchronize(stream_)); !s.ok()) return s;
    }
    rope_table_ = *std::move(table);
    rope_positions_ = positions;
    rope_head_dim_ = head_dim;
    rope_theta_ = theta;
    return absl::OkStatus();
  }

  int device_;
  std::shared_ptr<MemoryCounter> memory_;
  cudaDeviceProp props_{};
  cudaStream_t stream_ = nullptr;
  cublasHandle_t cublas_ = nullptr;
  std::vector<std::shared_ptr<void>> scratch_;  // freed before the stream and handle
  cuda::GemmScratch gemm_;
  float* attention_scratch_ = nullptr;    // [kAttentionScratchFloats]
  cuda::QuantizedActivations quantized_;  // scratch of the integer decode kernels
  std::shared_ptr<void> rope_table_;      // [rope_positions_][rope_head_dim_ / 2] (cos, sin)
  int64_t rope_positions_ = 0, rope_head_dim_ = 0;
  float rope_theta_ = 0.0f;
  absl::Status first_error_;
};

}  // namespace

int CudaDeviceCount() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return count;
}

absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device) {
  return CudaBackend::Create(device);
}

}  // namespace aiscore
