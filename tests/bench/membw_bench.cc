// Memory read bandwidth: the ceiling decode (matrix x vector) kernels are
// measured against. Reads a 1 GiB buffer (far beyond the caches) on 1 and 2
// threads of aiscore's ThreadPool, each thread reading its own contiguous
// share, summing what it reads so that no load is dropped
// (agent/cpu/read_bandwidth.h): with scalar loads, with AVX2 loads and the
// decode kernels' prefetch (avx2: the probe `aiscore bench` and `aiscore run`
// take), and with AVX2 loads alone (avx2-loads-only). Reports GB/s.
//
// BM_DecodeReplay/FORMAT/ctx:N/threads:2 replays what one target-7b decode
// token reads, in decode's order and regions, with the probe's loop and no
// arithmetic: the rate any kernel could reach inside decode's structure.
//
//   aiscore_membw_bench [--buffer_mib=N] [benchmark flags]
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cpu/cpu_features.h"
#include "agent/cpu/read_bandwidth.h"
#include "agent/cpu/thread_pool.h"
#include "agent/engine/host_memory.h"
#include "agent/engine/model_config.h"
#include "agent/quant/format.h"

namespace aiscore {
namespace {

size_t g_buffer_bytes = size_t{1} << 30;

// The buffer, allocated and touched once (huge-page advised, as weights are).
const unsigned char* Buffer() {
  static std::shared_ptr<void> memory = [] {
    absl::StatusOr<std::shared_ptr<void>> m = AllocateHostMemory(g_buffer_bytes);
    if (!m.ok()) {
      std::fprintf(stderr, "aiscore_membw_bench: %s\n", m.status().ToString().c_str());
      std::exit(1);
    }
    std::memset(m->get(), 1, g_buffer_bytes);
    return *m;
  }();
  return static_cast<const unsigned char*>(memory.get());
}

// `variant` reads the share at p of n bytes.
using ReadFn = uint64_t (*)(const unsigned char* p, size_t n);

void BM_ReadBandwidth(benchmark::State& state, Isa isa, ReadFn read, int threads) {
  if (!IsaSupported(isa)) {
    state.SkipWithError(("this CPU lacks " + std::string(IsaName(isa))).c_str());
    return;
  }
  const unsigned char* buffer = Buffer();
  ThreadPool pool(threads);
  const size_t share = g_buffer_bytes / threads / 256 * 256;
  std::vector<uint64_t> partial(threads);
  for (auto _ : state) {
    pool.Run([&](int t) { partial[t] = read(buffer + t * share, share); });
    benchmark::DoNotOptimize(partial.data());
  }
  // Decimal GB/s, as aiscore reports weight rates.
  state.counters["GB/s"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * share * threads / 1e9, benchmark::Counter::kIsRate);
}

// One stretch of tiles that a decode matmul region shares out.
struct ReplayRegion {
  size_t offset;      // bytes into the weights
  size_t tile_bytes;  // a tile: kReplayTileRows rows
  int64_t tiles;
};
constexpr int64_t kReplayTileRows = 32;

// Decode's reads of one target-7b token at `context` cached positions,
// replayed: per layer the q, k and v region (one region, as `MatMuls` runs
// them), the F16 keys and values of the layer's cache, each thread reading
// the half that its KV heads make up, as decode attention does, wo, the gate
// and up region, and down; then the output head. Each matmul region's tiles
// go out by ParallelForShares, as decode's do. Every byte is read with the
// probe's loop (SumForBandwidth) and none is computed on, so this is what a
// kernel that cost nothing would read inside decode's structure (the norms,
// rope and SwiGLU, which read no weights, left out). Reports GB/s of weights,
// as `aiscore bench` does, and GB/s with the cache's bytes too.
void BM_DecodeReplay(benchmark::State& state, Format format, int64_t context, int threads) {
  const Isa isa = BestIsa();  // the ISA decode reads with, as the probe of `aiscore bench`
  const ModelConfig c = *ModelPreset("target-7b");
  std::vector<ReplayRegion> layer;  // one layer's regions, offsets from the layer's start
  size_t layer_bytes = 0;
  auto add = [&](int64_t rows, int64_t cols) {
    const size_t tile = RowBytes(format, cols) * kReplayTileRows;
    layer.push_back({layer_bytes, tile, rows / kReplayTileRows});
    layer_bytes += tile * static_cast<size_t>(rows / kReplayTileRows);
  };
  add(c.d_model + 2 * c.kv_dim(), c.d_model);  // q, k and v
  add(c.d_model, c.d_model);                   // wo
  add(2 * c.d_ff, c.d_model);                  // gate and up
  add(c.d_model, c.d_ff);                      // down
  const size_t head_tile = RowBytes(format, c.d_model) * kReplayTileRows;
  const ReplayRegion head{layer_bytes * c.n_layers, head_tile, c.vocab_size / kReplayTileRows};
  const size_t weight_bytes = head.offset + head_tile * static_cast<size_t>(head.tiles);
  // Keys then values, [n_kv_heads][context][head_dim] halves each, so each
  // thread's KV heads are one stretch of keys and one of values.
  const size_t kv_half = static_cast<size_t>(c.kv_dim() * context) * 2;
  const size_t kv_layer = 2 * kv_half;
  const size_t kv_share = kv_half / threads / 256 * 256;
  const size_t cache_bytes = kv_layer * static_cast<size_t>(c.n_layers);
  absl::StatusOr<std::shared_ptr<void>> weights = AllocateHostMemory(weight_bytes);
  absl::StatusOr<std::shared_ptr<void>> cache = AllocateHostMemory(cache_bytes);
  if (!weights.ok() || !cache.ok()) {
    state.SkipWithError((!weights.ok() ? weights.status() : cache.status()).ToString().c_str());
    return;
  }
  std::memset(weights->get(), 1, weight_bytes);
  std::memset(cache->get(), 1, cache_bytes);
  const auto* w = static_cast<const unsigned char*>(weights->get());
  const auto* kv = static_cast<const unsigned char*>(cache->get());
  ThreadPool pool(threads);
  struct alignas(64) Sum {  // a line each, so the threads' sums share none
    uint64_t value = 0;
  };
  std::vector<Sum> partial(threads);
  auto run = [&](const ReplayRegion& r, size_t base) {
    pool.ParallelForShares(r.tiles, 1, [&](int64_t b, int64_t e, int t) {
      partial[t].value +=
          SumForBandwidth(w + base + r.offset + static_cast<size_t>(b) * r.tile_bytes,
                          static_cast<size_t>(e - b) * r.tile_bytes, isa);
    });
  };
  for (auto _ : state) {
    for (int64_t l = 0; l < c.n_layers; ++l) {
      const size_t base = layer_bytes * static_cast<size_t>(l);
      run(layer[0], base);
      const unsigned char* keys = kv + kv_layer * static_cast<size_t>(l);
      pool.Run([&](int t) {
        partial[t].value += SumForBandwidth(keys + t * kv_share, kv_share, isa);
        partial[t].value += SumForBandwidth(keys + kv_half + t * kv_share, kv_share, isa);
      });
      for (size_t i = 1; i < layer.size(); ++i) run(layer[i], base);
    }
    run(head, 0);
    benchmark::DoNotOptimize(partial.data());
  }
  const double tokens = static_cast<double>(state.iterations());
  state.counters["GB/s"] =
      benchmark::Counter(tokens * weight_bytes / 1e9, benchmark::Counter::kIsRate);
  state.counters["with_cache_GB/s"] =
      benchmark::Counter(tokens * (weight_bytes + 2.0 * kv_share * threads * c.n_layers) / 1e9,
                         benchmark::Counter::kIsRate);
}

void PrintHelp() {
  std::printf(
      "aiscore_membw_bench: memory read bandwidth with scalar and AVX2 loads, and\n"
      "decode's reads of target-7b replayed without arithmetic (BM_DecodeReplay).\n"
      "  --buffer_mib=N   size of the buffer read, MiB (default 1024)\n\n");
  benchmark::PrintDefaultHelp();
}

}  // namespace
}  // namespace aiscore

int main(int argc, char** argv) {
  using namespace aiscore;
  benchmark::Initialize(&argc, argv, PrintHelp);
  int kept = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg.starts_with("--buffer_mib=")) {
      const long mib = std::strtol(argv[i] + std::strlen("--buffer_mib="), nullptr, 10);
      if (mib < 1) {
        std::fprintf(stderr, "aiscore_membw_bench: --buffer_mib wants a positive number\n");
        return 2;
      }
      g_buffer_bytes = static_cast<size_t>(mib) << 20;
    } else {
      argv[kept++] = argv[i];
    }
  }
  argc = kept;
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
  struct Variant {
    const char* name;
    Isa isa;
    ReadFn read;
  };
  std::vector<Variant> variants = {
      {"scalar", Isa::kScalar,
       [](const unsigned char* p, size_t n) { return SumForBandwidth(p, n, Isa::kScalar); }},
      {"avx2", Isa::kAvx2,
       [](const unsigned char* p, size_t n) { return SumForBandwidth(p, n, Isa::kAvx2); }},
  };
#ifdef AISCORE_HAVE_X86_KERNELS
  variants.push_back({"avx2-loads-only", Isa::kAvx2, [](const unsigned char* p, size_t n) {
                        return SumForBandwidthAvx2(p, n, /*prefetch=*/false);
                      }});
#endif
  for (const Variant& v : variants) {
    for (int threads : {1, 2}) {
      const std::string name =
          "BM_ReadBandwidth/" + std::string(v.name) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), BM_ReadBandwidth, v.isa, v.read, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  // 576 positions: the mean a token of tg128 after a 512-token prompt sees.
  for (Format format : kBasketFormats) {
    const std::string name =
        "BM_DecodeReplay/" + std::string(FormatName(format)) + "/ctx:576/threads:2";
    benchmark::RegisterBenchmark(name.c_str(), BM_DecodeReplay, format, int64_t{576}, 2)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
