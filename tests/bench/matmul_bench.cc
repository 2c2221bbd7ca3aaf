// CPU matmul throughput per weight format and ISA, through CpuMatMul and a
// ThreadPool of --threads threads (default 2):
//
//   BM_Decode/<format>/<isa>/<rows>x<cols>/threads:T   y = W x, n = 1 token;
//     shapes 14336x4096, 4096x14336 (FFN), 4096x4096 and 1024x4096 (attention).
//     Memory-bound; each iteration takes the next of several matrices that
//     together hold >= 512 MiB, so weights come from DRAM, not cache.
//     bytes_per_second = weight bytes read per second.
//   BM_DecodeCached/<format>/<isa>/2048x4096/threads:T   the same on one
//     matrix read over and over from the caches (L3 on Zen 4; 2.7 to 16 MiB):
//     the kernel's ceiling from L3 (on Zen 5, 2.7 MiB of Q2_K read 64-66
//     GiB/s on one core where the same kernel reads 69-70 from L2).
//   BM_DecodeL2/<format>/<isa>/<rows>x4096/threads:T   the same on about 512
//     KiB of whole 32-row tiles, which one core's L2 holds: the kernel's own
//     ceiling, its arithmetic. Meant for --threads=1 (on two threads the
//     split of so few tiles costs more than it shares).
//   BM_Prefill/<format>/<isa>/<rows>x<cols>x512/threads:T   Y = X W^T, n = 512;
//     shapes 4096x4096 (attention), 14336x4096 and 4096x14336 (FFN).
//     Compute-bound; flop_per_second counts 2 * rows * cols * n per run,
//     bytes_per_second the weight bytes.
//
//   BM_PrefillAttention/<isa>/ctx<C>x512/threads:T   CpuBackend::Attention of
//     512 tokens after C cached ones, target-7b's heads (32 query, 8 KV, 128
//     wide): the last 512 of a C + 512 prompt. flop_per_second counts
//     2 x 2 x 32 x 128 per (token, position it sees): scores and values.
//     <isa>-tokenwise makes one call per token instead: the decode path
//     (scores, softmax, values per token), which prefill took before the
//     flash-style kernel.
//   BM_DecodeAttention/<isa>/ctx<C>/threads:T   CpuBackend::Attention of one
//     token after C cached (the decode path), target-7b's heads; each call
//     takes the next of several caches that together hold >= 512 MiB, as
//     decode goes through 32 layers' caches. bytes_per_second = key and
//     value bytes read; flop_per_second as above.
//
// A kernel that reads the CPU backend's panel layout (agent/cpu/panel_layout.h)
// is measured twice: on GGUF rows as <isa>, and on repacked weights, as the
// backend runs it, as <isa>-panels.
//
// A (format, ISA) pair with no kernel of its own is reported as skipped with
// the reason, rather than silently measuring a fallback kernel.
//
//   aiscore_matmul_bench [--threads=N] [benchmark flags]
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cpu/cpu_backend.h"
#include "agent/cpu/cpu_features.h"
#include "agent/cpu/matmul.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/thread_pool.h"
#include "agent/cpu/vec_kernels.h"
#include "agent/engine/host_memory.h"
#include "agent/engine/model_config.h"
#include "agent/engine/weight_tensor.h"
#include "agent/quant/format.h"
#include "agent/quant/fp16.h"

namespace aiscore {
namespace {

constexpr size_t kDecodeWorkingSetBytes = size_t{512} << 20;
constexpr int64_t kL2MatrixBytes = int64_t{512} << 10;  // BM_DecodeL2
constexpr int64_t kPrefillTokens = 512;
// Distinct random rows quantized per matrix set; the rest are copies.
constexpr int64_t kSeedRows = 16;

int g_threads = 2;

// `count` matrices of rows x cols in `format`, back to back in one
// allocation, filled with reference-quantized random rows, in `layout`.
struct MatrixSet {
  std::shared_ptr<void> memory;  // [count][rows][row_bytes]
  size_t matrix_bytes = 0;
  int count = 0;
};

// Google Benchmark calls a benchmark function several times (to find the
// iteration count); the last set made is kept so that it is filled once.
absl::StatusOr<MatrixSet> MakeMatrixSet(Format format, WeightLayout layout, int64_t rows,
                                        int64_t cols, int count) {
  static struct {
    Format format;
    WeightLayout layout;
    int64_t rows, cols;
    MatrixSet set;
  } last{};
  if (last.set.memory != nullptr && last.format == format && last.layout == layout &&
      last.rows == rows && last.cols == cols && last.set.count == count) {
    return last.set;
  }
  last.set = MatrixSet{};  // free the previous set first
  const size_t row_bytes = RowBytes(format, cols);
  MatrixSet set;
  set.matrix_bytes = row_bytes * rows;
  set.count = count;
  absl::StatusOr<std::shared_ptr<void>> memory = AllocateHostMemory(set.matrix_bytes * count);
  if (!memory.ok()) return memory.status();
  set.memory = *std::move(memory);
  // Quantizing every row with the reference quantizer would take minutes
  // for the K-quants: quantize kSeedRows rows and repeat them.
  std::mt19937 rng(42);
  std::normal_distribution<float> dist(0.0f, 0.05f);
  std::vector<float> row(cols);
  std::vector<unsigned char> seed(row_bytes * kSeedRows);
  for (int64_t r = 0; r < kSeedRows; ++r) {
    for (float& v : row) v = dist(rng);
    Traits(format).quantize(row.data(), seed.data() + r * row_bytes, cols);
  }
  auto* out = static_cast<unsigned char*>(set.memory.get());
  for (int64_t r = 0; r < rows * count; r += kSeedRows) {
    const int64_t n = std::min(kSeedRows, rows * count - r);
    std::memcpy(out + r * row_bytes, seed.data(), n * row_bytes);
  }
  if (layout != WeightLayout::kRows) {
    ThreadPool pool(g_threads);
    for (int i = 0; i < count; ++i) {
      unsigned char* m = out + static_cast<size_t>(i) * set.matrix_bytes;
      RepackPanels(format, layout, rows, cols, m, m, &pool);
    }
  }
  last = {format, layout, rows, cols, set};
  return set;
}

std::vector<float> RandomActivations(int64_t n) {
  std::mt19937 rng(7);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(n);
  for (float& v : x) v = dist(rng);
  return x;
}

// Skips (with the reason) unless this CPU runs `isa` and `format` has a
// kernel of exactly that ISA.
bool CheckKernel(benchmark::State& state, Format format, Isa isa, WeightLayout layout) {
  if (!IsaSupported(isa)) {
    state.SkipWithError(("this CPU lacks " + std::string(IsaName(isa))).c_str());
    return false;
  }
  const MatMulKernel* k = FindMatMulKernel(format, isa);
  if (k == nullptr) {
    state.SkipWithError(
        ("no " + std::string(FormatName(format)) + " kernel for " + std::string(IsaName(isa)))
            .c_str());
    return false;
  }
  state.SetLabel("tile " + std::to_string(k->tile_rows) + "x" + std::to_string(k->tile_cols) +
                 (layout == WeightLayout::kPanels16   ? ", panels"
                  : layout == WeightLayout::kPanels32 ? ", panel pairs"
                                                      : ""));
  return true;
}

void BM_Decode(benchmark::State& state, Format format, Isa isa, WeightLayout layout, int64_t rows,
               int64_t cols, bool cached) {
  if (!CheckKernel(state, format, isa, layout)) return;
  const size_t matrix_bytes = RowBytes(format, cols) * rows;
  const int count = cached ? 1
                           : static_cast<int>(std::max<size_t>(
                                 2, (kDecodeWorkingSetBytes + matrix_bytes - 1) / matrix_bytes));
  absl::StatusOr<MatrixSet> set = MakeMatrixSet(format, layout, rows, cols, count);
  if (!set.ok()) {
    state.SkipWithError(set.status().ToString().c_str());
    return;
  }
  const std::vector<float> x = RandomActivations(cols);
  std::vector<float> y(rows);
  ThreadPool pool(g_threads);
  CpuMatMul mm(&pool, isa);
  const auto* base = static_cast<const unsigned char*>(set->memory.get());
  int i = 0;
  for (auto _ : state) {
    const WeightTensor w{"w",   format, rows, cols, base + static_cast<size_t>(i) * matrix_bytes,
                         layout};
    mm.Run(w, x.data(), 1, y.data());
    benchmark::DoNotOptimize(y.data());
    i = i + 1 == count ? 0 : i + 1;
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * matrix_bytes));
}

void BM_Prefill(benchmark::State& state, Format format, Isa isa, WeightLayout layout, int64_t rows,
                int64_t cols, int64_t n) {
  if (!CheckKernel(state, format, isa, layout)) return;
  absl::StatusOr<MatrixSet> set = MakeMatrixSet(format, layout, rows, cols, 1);
  if (!set.ok()) {
    state.SkipWithError(set.status().ToString().c_str());
    return;
  }
  const std::vector<float> x = RandomActivations(n * cols);
  std::vector<float> y(n * rows);
  ThreadPool pool(g_threads);
  CpuMatMul mm(&pool, isa);
  const WeightTensor w{"w", format, rows, cols, set->memory.get(), layout};
  for (auto _ : state) {
    mm.Run(w, x.data(), n, y.data());
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * set->matrix_bytes));
  state.counters["flop_per_second"] = benchmark::Counter(
      2.0 * rows * cols * n * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

// `caches` KV caches of `positions` rows of kv_dim random F16 values each,
// keys then values, in host memory as the engine allocates its cache (huge
// pages where the kernel gives them).
std::shared_ptr<void> RandomKvCaches(int64_t caches, int64_t positions, int64_t kv_dim) {
  const int64_t halves = caches * 2 * positions * kv_dim;
  absl::StatusOr<std::shared_ptr<void>> memory = AllocateHostMemory(halves * sizeof(uint16_t));
  if (!memory.ok()) return nullptr;
  std::mt19937 rng(3);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  auto* h = static_cast<uint16_t*>(memory->get());
  for (int64_t i = 0; i < halves; ++i) h[i] = Fp32ToFp16(dist(rng));
  return *std::move(memory);
}

void BM_PrefillAttention(benchmark::State& state, Isa isa, bool tokenwise, int64_t context,
                         int64_t n) {
  if (!IsaSupported(isa)) {
    state.SkipWithError(("this CPU lacks " + std::string(IsaName(isa))).c_str());
    return;
  }
  const ModelConfig c = *ModelPreset("target-7b");
  const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim(), c.rope_theta, context + n};
  const int64_t q_dim = c.n_heads * c.head_dim(), kv_dim = c.kv_dim();
  const std::vector<float> q = RandomActivations(n * q_dim);
  std::vector<float> out(n * q_dim);
  const std::shared_ptr<void> cache = RandomKvCaches(1, context + n, kv_dim);
  if (cache == nullptr) {
    state.SkipWithError("no memory for the KV cache");
    return;
  }
  const auto* k = static_cast<const uint16_t*>(cache.get());
  const uint16_t* v = k + (context + n) * kv_dim;
  CpuBackend backend(g_threads, isa);
  for (auto _ : state) {
    if (tokenwise) {
      for (int64_t t = 0; t < n; ++t) {
        backend.Attention(q.data() + t * q_dim, k, v, 1, context + t, shape,
                          out.data() + t * q_dim);
      }
    } else {
      backend.Attention(q.data(), k, v, n, context, shape, out.data());
    }
    benchmark::DoNotOptimize(out.data());
  }
  // Token t sees context + t + 1 positions: a multiply-add per (head, dim)
  // for its score and for its share of the output.
  const double pairs = n * (context + (n + 1) / 2.0);
  state.counters["flop_per_second"] = benchmark::Counter(
      4.0 * c.n_heads * c.head_dim() * pairs * state.iterations(), benchmark::Counter::kIsRate);
}

void BM_DecodeAttention(benchmark::State& state, Isa isa, int64_t context, bool cached) {
  if (!IsaSupported(isa)) {
    state.SkipWithError(("this CPU lacks " + std::string(IsaName(isa))).c_str());
    return;
  }
  const ModelConfig c = *ModelPreset("target-7b");
  const int64_t positions = context + 1;
  const AttentionShape shape{c.n_heads, c.n_kv_heads, c.head_dim(), c.rope_theta, positions};
  const int64_t q_dim = c.n_heads * c.head_dim(), kv_dim = c.kv_dim();
  const int64_t cache_bytes = 2 * positions * kv_dim * static_cast<int64_t>(sizeof(uint16_t));
  // Enough caches (layers) that together they hold >= 512 MiB, so each call
  // reads its keys and values from DRAM, as decode does across 32 layers;
  // cached: one, read again and again from cache (the kernels' ceiling).
  const int64_t caches =
      cached ? 1 : std::max<int64_t>(1, ((int64_t{512} << 20) + cache_bytes - 1) / cache_bytes);
  const std::shared_ptr<void> memory = RandomKvCaches(caches, positions, kv_dim);
  if (memory == nullptr) {
    state.SkipWithError("no memory for the KV caches");
    return;
  }
  const std::vector<float> q = RandomActivations(q_dim);
  std::vector<float> out(q_dim);
  CpuBackend backend(g_threads, isa);
  int64_t layer = 0;
  for (auto _ : state) {
    const auto* k = static_cast<const uint16_t*>(memory.get()) + layer * 2 * positions * kv_dim;
    backend.Attention(q.data(), k, k + positions * kv_dim, 1, context, shape, out.data());
    benchmark::DoNotOptimize(out.data());
    layer = (layer + 1) % caches;
  }
  state.SetBytesProcessed(state.iterations() * cache_bytes);
  state.counters["flop_per_second"] = benchmark::Counter(
      4.0 * c.n_heads * c.head_dim() * positions * state.iterations(), benchmark::Counter::kIsRate);
}

void PrintHelp() {
  std::printf(
      "aiscore_matmul_bench: CPU matmul decode (GB/s of weights) and prefill (FLOP/s)\n"
      "per weight format and ISA.\n"
      "  --threads=N   threads of the matmul's pool, the caller included (default 2)\n\n");
}

void RegisterAll() {
  const std::string threads = "/threads:" + std::to_string(g_threads);
  for (Format format : kBasketFormats) {
    const std::string f(FormatName(format));
    for (Isa isa : SupportedIsas()) {
      const MatMulKernel* k = FindMatMulKernel(format, isa);
      if (k == nullptr) continue;  // this format runs a lower ISA's kernel there
      const bool panels = k->panel_tile != nullptr;
      for (WeightLayout layout : {WeightLayout::kRows, WeightLayout::kPanels16}) {
        if (layout != WeightLayout::kRows) {  // the kernel's own
          if (!panels) continue;
          layout = k->panel_layout;
        }
        const std::string i =
            std::string(IsaName(isa)) + (layout != WeightLayout::kRows ? "-panels" : "");
        // The FFN's shapes (gate and up; down), then the attention's (Q and
        // O; K and V), whose tasks are shorter.
        for (const auto& shape : {std::pair<int64_t, int64_t>{14336, 4096},
                                  {4096, 14336},
                                  {4096, 4096},
                                  {1024, 4096}}) {
          const std::string name = "BM_Decode/" + f + "/" + i + "/" + std::to_string(shape.first) +
                                   "x" + std::to_string(shape.second) + threads;
          benchmark::RegisterBenchmark(name.c_str(), BM_Decode, format, isa, layout, shape.first,
                                       shape.second, false)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
        const std::string cached = "BM_DecodeCached/" + f + "/" + i + "/2048x4096" + threads;
        benchmark::RegisterBenchmark(cached.c_str(), BM_Decode, format, isa, layout, 2048, 4096,
                                     true)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        // About 512 KiB of rows in whole tiles: each core's L2 holds them.
        const int64_t l2_rows =
            std::max<int64_t>(32, kL2MatrixBytes / RowBytes(format, 4096) / 32 * 32);
        const std::string l2 =
            "BM_DecodeL2/" + f + "/" + i + "/" + std::to_string(l2_rows) + "x4096" + threads;
        benchmark::RegisterBenchmark(l2.c_str(), BM_Decode, format, isa, layout, l2_rows, 4096,
                                     true)
            ->UseRealTime()
            ->Unit(benchmark::kMicrosecond);
        // The attention projections' shape, then the FFN's (gate and up; down).
        for (const auto& shape :
             {std::pair<int64_t, int64_t>{4096, 4096}, {14336, 4096}, {4096, 14336}}) {
          const std::string name = "BM_Prefill/" + f + "/" + i + "/" + std::to_string(shape.first) +
                                   "x" + std::to_string(shape.second) + "x" +
                                   std::to_string(kPrefillTokens) + threads;
          benchmark::RegisterBenchmark(name.c_str(), BM_Prefill, format, isa, layout, shape.first,
                                       shape.second, kPrefillTokens)
              ->UseRealTime()
              ->Unit(benchmark::kMillisecond);
        }
      }
    }
  }
  for (Isa isa : SupportedIsas()) {
    if (BestVecKernels(isa).isa != isa) continue;  // a lower ISA's attention
    for (int64_t context : {512, 8192}) {
      const std::string name = "BM_DecodeAttention/" + std::string(IsaName(isa)) + "/ctx" +
                               std::to_string(context) + threads;
      benchmark::RegisterBenchmark(name.c_str(), BM_DecodeAttention, isa, context, false)
          ->UseRealTime()
          ->Unit(benchmark::kMicrosecond);
    }
    const std::string cached =
        "BM_DecodeAttentionCached/" + std::string(IsaName(isa)) + "/ctx512" + threads;
    benchmark::RegisterBenchmark(cached.c_str(), BM_DecodeAttention, isa, 512, true)
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
    for (bool tokenwise : {false, true}) {
      for (int64_t context : {0, 1536, 7680}) {
        const std::string name =
            "BM_PrefillAttention/" + std::string(IsaName(isa)) + (tokenwise ? "-tokenwise" : "") +
            "/ctx" + std::to_string(context) + "x" + std::to_string(kPrefillTokens) + threads;
        benchmark::RegisterBenchmark(name.c_str(), BM_PrefillAttention, isa, tokenwise, context,
                                     kPrefillTokens)
            ->UseRealTime()
            ->Unit(benchmark::kMillisecond);
      }
    }
  }
}

}  // namespace
}  // namespace aiscore

int main(int argc, char** argv) {
  using namespace aiscore;
  benchmark::Initialize(&argc, argv, PrintHelp);
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--threads=")) {
      g_threads = static_cast<int>(std::strtol(argv[i] + std::strlen("--threads="), nullptr, 10));
      if (g_threads < 1) {
        std::fprintf(stderr, "aiscore_matmul_bench: --threads wants a positive number\n");
        return 2;
      }
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  RegisterAll();
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
