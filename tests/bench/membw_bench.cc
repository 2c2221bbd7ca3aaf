// Memory read bandwidth: the ceiling decode (matrix x vector) kernels are
// measured against. Reads a 1 GiB buffer (far beyond the caches) with AVX2
// and AVX-512 loads, summing what it reads so that no load is dropped, on 1
// and 2 threads of aiscore's ThreadPool, each thread reading its own
// contiguous share. Reports bytes_per_second.
//
//   aiscore_membw_bench [--buffer_mib=N] [benchmark flags]
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "agent/cpu/cpu_features.h"
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

// Sums bytes [p, p + n) as 64-bit lanes, 256 bytes a step; n is a multiple of 256.
__attribute__((target("avx2"))) uint64_t SumAvx2(const unsigned char* p, size_t n) {
  __m256i s[8];
  for (__m256i& v : s) v = _mm256_setzero_si256();
  for (size_t i = 0; i < n; i += 256) {
    const auto* q = reinterpret_cast<const __m256i*>(p + i);
    for (int j = 0; j < 8; ++j) s[j] = _mm256_add_epi64(s[j], _mm256_load_si256(q + j));
  }
  for (int j = 1; j < 8; ++j) s[0] = _mm256_add_epi64(s[0], s[j]);
  alignas(32) uint64_t lanes[4];
  _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), s[0]);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

__attribute__((target("avx512f"))) uint64_t SumAvx512(const unsigned char* p, size_t n) {
  __m512i s[4];
  for (__m512i& v : s) v = _mm512_setzero_si512();
  for (size_t i = 0; i < n; i += 256) {
    for (int j = 0; j < 4; ++j) s[j] = _mm512_add_epi64(s[j], _mm512_load_si512(p + i + 64 * j));
  }
  for (int j = 1; j < 4; ++j) s[0] = _mm512_add_epi64(s[0], s[j]);
  alignas(64) uint64_t lanes[8];
  _mm512_store_si512(lanes, s[0]);
  uint64_t total = 0;
  for (uint64_t v : lanes) total += v;
  return total;
}

using SumFn = uint64_t (*)(const unsigned char*, size_t);

void BM_ReadBandwidth(benchmark::State& state, Isa isa, SumFn sum, int threads) {
  if (!IsaSupported(isa)) {
    state.SkipWithError(("this CPU lacks " + std::string(IsaName(isa))).c_str());
    return;
  }
  const unsigned char* buffer = Buffer();
  ThreadPool pool(threads);
  const size_t share = g_buffer_bytes / threads / 256 * 256;
  std::vector<uint64_t> partial(threads);
  for (auto _ : state) {
    pool.Run([&](int t) { partial[t] = sum(buffer + t * share, share); });
    benchmark::DoNotOptimize(partial.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * share * threads);
}

void PrintHelp() {
  std::printf(
      "aiscore_membw_bench: memory read bandwidth with AVX2 and AVX-512 loads.\n"
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
  const struct {
    Isa isa;
    SumFn sum;
  } kernels[] = {{Isa::kAvx2, SumAvx2}, {Isa::kAvx512, SumAvx512}};
  for (const auto& k : kernels) {
    for (int threads : {1, 2}) {
      const std::string name =
          "BM_ReadBandwidth/" + std::string(IsaName(k.isa)) + "/threads:" + std::to_string(threads);
      benchmark::RegisterBenchmark(name.c_str(), BM_ReadBandwidth, k.isa, k.sum, threads)
          ->UseRealTime()
          ->Unit(benchmark::kMillisecond);
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
