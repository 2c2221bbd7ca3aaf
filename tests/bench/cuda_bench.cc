// The CUDA backend's kernels against the GPU's own ceilings, measured in the
// same run (docs/performance.md, "CUDA"):
//
//   copy bandwidth   cudaMemcpy device to device of 1 GiB, bytes read plus
//                    bytes written per second (median of 10): the ceiling of
//                    every memory-bound kernel.
//   cuBLAS FP16      cublasGemmEx 8192^3, F16 inputs, F32 accumulation and
//                    output (the prefill path's own configuration), FLOP/s
//                    (median of 10): the ceiling of prefill.
//
//   BM_Decode/<format>/<rows>x<cols>/tokens:<n>   y = x W^T for n = 1..8
//     tokens, through Backend::MatMul; each iteration takes the next of
//     matrices that together hold >= 1 GiB, so weights come from HBM, not L2.
//     Counters: weight bytes read per second and that as a fraction of the
//     copy bandwidth.
//   BM_Prefill/<format>/<rows>x<cols>/tokens:512   the same for 512 tokens:
//     FLOP/s (2 rows cols n) and that as a fraction of cuBLAS FP16.
//   BM_Attention/context:<L>/tokens:<n>   one layer of target-7b's attention
//     over L cached positions: K and V bytes read per second.
//   BM_DecodeStep/<format>   one whole decode step of target-7b (weights
//     synthesized on the GPU) at depth 512: tokens/s, weight bytes read per
//     second and that as a fraction of the copy bandwidth.
//
// Device time is measured with CUDA events (UseManualTime). Without a GPU
// every benchmark is skipped with the reason.
//
//   aiscore_cuda_bench [benchmark flags], e.g. --benchmark_filter=BM_Decode
#include <benchmark/benchmark.h>
#include <cublas_v2.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "agent/cuda/cuda_backend.h"
#include "agent/engine/model_config.h"
#include "agent/engine/session.h"
#include "agent/engine/synthetic_weights.h"
#include "agent/quant/format.h"

namespace aiscore {
namespace {

constexpr size_t kWorkingSetBytes = size_t{1} << 30;
constexpr int kReferenceRepeats = 10;

std::unique_ptr<Backend> g_backend;
std::string g_no_gpu;           // why there is no backend
double g_copy_bytes_per_s = 0;  // read + written
double g_cublas_flops = 0;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Seconds of `run` (queued on the default stream), median of the repeats.
template <typename Fn>
double TimeOnDevice(Fn run, int repeats) {
  cudaEvent_t a, b;
  cudaEventCreate(&a);
  cudaEventCreate(&b);
  run();  // warm-up
  std::vector<double> seconds;
  for (int i = 0; i < repeats; ++i) {
    cudaEventRecord(a);
    run();
    cudaEventRecord(b);
    cudaEventSynchronize(b);
    float ms = 0;
    cudaEventElapsedTime(&ms, a, b);
    seconds.push_back(ms / 1000.0);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  return Median(seconds);
}

void MeasureCeilings() {
  void *src = nullptr, *dst = nullptr;
  if (cudaMalloc(&src, kWorkingSetBytes) == cudaSuccess &&
      cudaMalloc(&dst, kWorkingSetBytes) == cudaSuccess) {
    cudaMemset(src, 1, kWorkingSetBytes);
    const double s =
        TimeOnDevice([&] { cudaMemcpyAsync(dst, src, kWorkingSetBytes, cudaMemcpyDeviceToDevice); },
                     kReferenceRepeats);
    g_copy_bytes_per_s = 2.0 * kWorkingSetBytes / s;
  }
  cudaFree(src);
  cudaFree(dst);
  constexpr int kN = 8192;
  __half *a = nullptr, *b = nullptr;
  float* c = nullptr;
  cublasHandle_t handle = nullptr;
  if (cudaMalloc(reinterpret_cast<void**>(&a), sizeof(__half) * kN * kN) == cudaSuccess &&
      cudaMalloc(reinterpret_cast<void**>(&b), sizeof(__half) * kN * kN) == cudaSuccess &&
      cudaMalloc(reinterpret_cast<void**>(&c), sizeof(float) * kN * kN) == cudaSuccess &&
      cublasCreate(&handle) == CUBLAS_STATUS_SUCCESS) {
    cudaMemset(a, 0x3c, sizeof(__half) * kN * kN);  // 1.0078 in every half
    cudaMemset(b, 0x3c, sizeof(__half) * kN * kN);
    const float one = 1.0f, zero = 0.0f;
    const double s = TimeOnDevice(
        [&] {
          cublasGemmEx(handle, CUBLAS_OP_T, CUBLAS_OP_N, kN, kN, kN, &one, a, CUDA_R_16F, kN, b,
                       CUDA_R_16F, kN, &zero, c, CUDA_R_32F, kN, CUBLAS_COMPUTE_32F,
                       CUBLAS_GEMM_DEFAULT);
        },
        kReferenceRepeats);
    g_cublas_flops = 2.0 * kN * kN * double{kN} / s;
  }
  if (handle != nullptr) cublasDestroy(handle);
  cudaFree(a);
  cudaFree(b);
  cudaFree(c);
}

// `count` copies of one rows x cols matrix of synthetic weights in device
// memory, `count` chosen so that they hold at least `min_bytes`.
struct DeviceMatrices {
  std::unique_ptr<DeviceBuffer> buffer;
  WeightTensor first;
  int count = 0;
  WeightTensor Get(int i) const {
    WeightTensor w = first;
    w.data = static_cast<const char*>(first.data) + i * first.bytes();
    return w;
  }
};

absl::StatusOr<DeviceMatrices> MakeMatrices(Format format, int64_t rows, int64_t cols,
                                            size_t min_bytes) {
  DeviceMatrices m;
  m.first = {"bench", format, rows, cols, nullptr};
  const size_t bytes = m.first.bytes();
  m.count = static_cast<int>(std::max<size_t>(1, (min_bytes + bytes - 1) / bytes));
  std::vector<uint8_t> host(bytes);
  const FormatTraits& t = Traits(format);
  const float stddev = 1.0f / std::sqrt(static_cast<float>(cols));
  if (t.block_size == 1) {
    SynthesizeValues(format, stddev, 1, host.data(), rows * cols);
  } else {
    for (int64_t b = 0; b < rows * cols / t.block_size; ++b) {
      SynthesizeBlock(format, stddev, SyntheticBlockKey(1, 0, b), host.data() + b * t.block_bytes);
    }
  }
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> buffer = g_backend->Allocate(bytes * m.count);
  if (!buffer.ok()) return buffer.status();
  m.buffer = *std::move(buffer);
  m.first.data = m.buffer->data();
  for (int i = 0; i < m.count; ++i) {
    if (absl::Status s =
            g_backend->CopyToDevice(const_cast<void*>(m.Get(i).data), host.data(), bytes);
        !s.ok()) {
      return s;
    }
  }
  if (absl::Status s = g_backend->Synchronize(); !s.ok()) return s;
  return m;
}

// Runs `op` once per iteration, timed with the backend's device timer.
template <typename Op>
bool TimeIterations(benchmark::State& state, Op op) {
  std::unique_ptr<DeviceTimer> timer = g_backend->CreateTimer();
  op(0);  // warm-up
  int i = 1;
  for (auto _ : state) {
    timer->Start();
    op(i++);
    absl::StatusOr<double> s = timer->Stop();
    if (!s.ok()) {
      state.SkipWithError(s.status().ToString().c_str());
      return false;
    }
    state.SetIterationTime(*s);
  }
  if (absl::Status s = g_backend->Synchronize(); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return false;
  }
  return true;
}

void BM_MatMul(benchmark::State& state, Format format, int64_t rows, int64_t cols, int64_t n) {
  if (!g_backend) return state.SkipWithError(g_no_gpu.c_str());
  absl::StatusOr<DeviceMatrices> m =
      MakeMatrices(format, rows, cols, n <= 8 ? kWorkingSetBytes : 0);
  if (!m.ok()) return state.SkipWithError(m.status().ToString().c_str());
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> x = g_backend->Allocate(n * cols * sizeof(float));
  absl::StatusOr<std::unique_ptr<DeviceBuffer>> y = g_backend->Allocate(n * rows * sizeof(float));
  if (!x.ok() || !y.ok()) return state.SkipWithError("cannot allocate activations");
  std::vector<float> host_x(n * cols);
  for (size_t i = 0; i < host_x.size(); ++i)
    host_x[i] = static_cast<float>((i * 7919) % 97) / 97.0f - 0.5f;
  if (!g_backend->CopyToDevice((*x)->data(), host_x.data(), host_x.size() * sizeof(float)).ok()) {
    return state.SkipWithError("cannot upload activations");
  }
  const auto* xd = static_cast<const float*>((*x)->data());
  auto* yd = static_cast<float*>((*y)->data());
  if (!TimeIterations(state, [&](int i) { g_backend->MatMul(m->Get(i % m->count), xd, n, yd); })) {
    return;
  }
  const double bytes = static_cast<double>(m->first.bytes());
  state.counters["weight_bytes_per_second"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["flop_per_second"] =
      benchmark::Counter(2.0 * rows * cols * n, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["copy_bytes_per_second"] = g_copy_bytes_per_s;
  state.counters["cublas_fp16_flop_per_second"] = g_cublas_flops;
}

void BM_Attention(benchmark::State& state, int64_t context, int64_t n) {
  if (!g_backend) return state.SkipWithError(g_no_gpu.c_str());
  const ModelConfig c = *ModelPreset("target-7b");
  const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim(), c.rope_theta, context + n};
  const int64_t q_dim = c.n_heads * c.head_dim(), kv_dim = c.kv_dim();
  auto k = g_backend->Allocate((context + n) * kv_dim * 2);
  auto v = g_backend->Allocate((context + n) * kv_dim * 2);
  auto q = g_backend->Allocate(n * q_dim * 4);
  auto out = g_backend->Allocate(n * q_dim * 4);
  if (!k.ok() || !v.ok() || !q.ok() || !out.ok()) {
    return state.SkipWithError("cannot allocate the cache");
  }
  std::vector<uint16_t> ones((context + n) * kv_dim, 0x2c00);  // 0.0625
  std::vector<float> qh(n * q_dim, 0.01f);
  g_backend->CopyToDevice((*k)->data(), ones.data(), ones.size() * 2).IgnoreError();
  g_backend->CopyToDevice((*v)->data(), ones.data(), ones.size() * 2).IgnoreError();
  g_backend->CopyToDevice((*q)->data(), qh.data(), qh.size() * 4).IgnoreError();
  if (!TimeIterations(state, [&](int) {
        g_backend->Attention(static_cast<const float*>((*q)->data()),
                             static_cast<const uint16_t*>((*k)->data()),
                             static_cast<const uint16_t*>((*v)->data()), n, context, shape,
                             static_cast<float*>((*out)->data()));
      })) {
    return;
  }
  state.counters["kv_bytes_per_second"] = benchmark::Counter(
      2.0 * (context + n) * kv_dim * 2, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["copy_bytes_per_second"] = g_copy_bytes_per_s;
}

void BM_DecodeStep(benchmark::State& state, Format format) {
  if (!g_backend) return state.SkipWithError(g_no_gpu.c_str());
  const ModelConfig c = *ModelPreset("target-7b");
  absl::StatusOr<ModelWeights> w = g_backend->SynthesizeOnDevice(c, format, kDefaultSyntheticSeed);
  if (!w.ok()) return state.SkipWithError(w.status().ToString().c_str());
  absl::StatusOr<std::unique_ptr<Session>> s =
      Session::Create(g_backend.get(), *w, {.max_context = 1024});
  if (!s.ok()) return state.SkipWithError(s.status().ToString().c_str());
  const std::vector<int32_t> prompt = SyntheticTokens(512, c.vocab_size, 1);
  if (absl::Status st = (*s)->Forward(prompt, 0, Logits::kNone); !st.ok()) {
    return state.SkipWithError(st.ToString().c_str());
  }
  const int32_t token = prompt.back();
  // Each iteration decodes one token at depth 512 (rolled back after).
  if (!TimeIterations(state, [&](int) {
        (*s)->Truncate(512);
        (*s)->NextToken({&token, 1}, 512).IgnoreError();
      })) {
    return;
  }
  // Weights read per token: every matrix but the embedding table, of which one row.
  double bytes = static_cast<double>(w->TotalBytes() - w->token_embd.bytes());
  state.counters["tokens_per_second"] =
      benchmark::Counter(1, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weight_bytes_per_second"] =
      benchmark::Counter(bytes, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["copy_bytes_per_second"] = g_copy_bytes_per_s;
}

void RegisterAll() {
  struct Shape {
    int64_t rows, cols;
  };
  // target-7b's matrices: q/o, k/v, gate/up, down, output head.
  const Shape shapes[] = {{4096, 4096}, {1024, 4096}, {14336, 4096}, {4096, 14336}, {32768, 4096}};
  for (Format f : kBasketFormats) {
    for (const Shape& s : shapes) {
      for (int64_t n : {1, 2, 4, 8}) {
        const std::string name = absl::StrCat("BM_Decode/", std::string(FormatName(f)), "/", s.rows,
                                              "x", s.cols, "/tokens:", n);
        benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, f, s.rows, s.cols, n)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
      }
      const std::string name = absl::StrCat("BM_Prefill/", std::string(FormatName(f)), "/", s.rows,
                                            "x", s.cols, "/tokens:512");
      benchmark::RegisterBenchmark(name.c_str(), BM_MatMul, f, s.rows, s.cols, int64_t{512})
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (int64_t context : {512, 4096, 8192}) {
    for (int64_t n : {1, 5}) {
      const std::string name = absl::StrCat("BM_Attention/context:", context, "/tokens:", n);
      benchmark::RegisterBenchmark(name.c_str(), BM_Attention, context, n)
          ->UseManualTime()
          ->Unit(benchmark::kMicrosecond);
    }
  }
  for (Format f : kBasketFormats) {
    const std::string name = absl::StrCat("BM_DecodeStep/", std::string(FormatName(f)));
    benchmark::RegisterBenchmark(name.c_str(), BM_DecodeStep, f)
        ->UseManualTime()
        ->Unit(benchmark::kMillisecond);
  }
}

}  // namespace
}  // namespace aiscore

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  absl::StatusOr<std::unique_ptr<aiscore::Backend>> backend = aiscore::CreateCudaBackend(0);
  if (backend.ok()) {
    aiscore::g_backend = *std::move(backend);
    aiscore::MeasureCeilings();
    std::printf("GPU: %s; copy %.1f GB/s (read + written), cuBLAS FP16 %.1f TFLOP/s\n",
                aiscore::g_backend->device_name().c_str(), aiscore::g_copy_bytes_per_s / 1e9,
                aiscore::g_cublas_flops / 1e12);
  } else {
    aiscore::g_no_gpu = std::string(backend.status().message());
  }
  aiscore::RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  aiscore::g_backend.reset();
  benchmark::Shutdown();
  return 0;
}
