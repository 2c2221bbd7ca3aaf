// Memory read bandwidth: the ceiling decode (matrix x vector) kernels are
// measured against. Reads a 1 GiB buffer (far beyond the caches) on 1 and 2
// threads of aiscore's ThreadPool, each thread reading its own contiguous
// share, summing what it reads so that no load is dropped
// (agent/cpu/read_bandwidth.h): with scalar loads, with AVX2 loads and the
// decode kernels' prefetch (avx2: the probe `aiscore bench` and `aiscore run`
// take), and with AVX2 loads alone (avx2-loads-only). Reports GB/s.
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

void PrintHelp() {
  std::printf(
      "aiscore_membw_bench: memory read bandwidth with scalar and AVX2 loads.\n"
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
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
