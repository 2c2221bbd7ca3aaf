// The CPU backend's fused decode layer against op by op, in one process:
// after a prompt of --depth tokens, greedy decode in blocks of --tokens
// tokens, each pair of blocks one fused and one op by op (which goes first
// alternates), so that both see the same state of the host's memory
// bandwidth, which moves within seconds. Prints each pair and the medians;
// the speedup is the median over pairs of op-by-op time / fused time.
//
//   aiscore_fused_decode_ab --model target-7b-q2_k.gguf [--blocks 24] [--tokens 16]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "agent/cpu/cpu_backend.h"
#include "agent/engine/gguf_model.h"
#include "agent/engine/session.h"

namespace aiscore {
namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Main(int argc, char** argv) {
  CLI::App app{"Fused against op-by-op CPU decode, alternating blocks of tokens"};
  std::string model;
  int blocks = 24, tokens = 16, threads = 0, depth = 512;
  app.add_option("--model", model, "a GGUF file")->required();
  app.add_option("--blocks", blocks, "pairs of blocks")->check(CLI::Range(1, 10000));
  app.add_option("--tokens", tokens, "tokens per block")->check(CLI::Range(1, 10000));
  app.add_option("--threads", threads, "CPU threads (0: one per CPU)")->check(CLI::Range(0, 1024));
  app.add_option("--depth", depth, "prompt tokens before decode")->check(CLI::Range(1, 1 << 20));
  CLI11_PARSE(app, argc, argv);

  absl::StatusOr<ModelWeights> weights = LoadGgufModel(model);
  if (!weights.ok()) {
    std::fprintf(stderr, "aiscore_fused_decode_ab: %s\n", weights.status().ToString().c_str());
    return 1;
  }
  CpuBackend backend(threads);
  const int64_t context = depth + 2LL * blocks * tokens + 1;
  absl::StatusOr<std::unique_ptr<Session>> session =
      Session::Create(&backend, *weights, {.max_context = context});
  if (!session.ok()) {
    std::fprintf(stderr, "aiscore_fused_decode_ab: %s\n", session.status().ToString().c_str());
    return 1;
  }
  Session& s = **session;
  std::vector<int32_t> prompt(depth);
  for (int i = 0; i < depth; ++i)
    prompt[i] = static_cast<int32_t>((i * 7919L) % s.config().vocab_size);
  if (absl::Status st = s.Forward(prompt, 0, Logits::kNone); !st.ok()) {
    std::fprintf(stderr, "aiscore_fused_decode_ab: %s\n", st.ToString().c_str());
    return 1;
  }
  std::printf("%s, %d threads, %s kernels, %d pairs of %d tokens after %d\n", model.c_str(),
              backend.threads(), std::string(IsaName(backend.isa())).c_str(), blocks, tokens,
              depth);
  int32_t token = 1;
  std::vector<double> fused_rate, plain_rate, speedup;
  for (int b = 0; b < blocks; ++b) {
    double seconds[2];  // [fused, op by op]
    for (int i = 0; i < 2; ++i) {
      const bool fused = (b % 2 == 0) == (i == 0);
      backend.set_fused_decode(fused);
      const auto start = std::chrono::steady_clock::now();
      for (int t = 0; t < tokens; ++t) {
        absl::StatusOr<int32_t> next =
            s.NextToken(std::span<const int32_t>(&token, 1), s.cached_tokens());
        if (!next.ok()) {
          std::fprintf(stderr, "aiscore_fused_decode_ab: %s\n", next.status().ToString().c_str());
          return 1;
        }
        token = *next;
      }
      seconds[fused ? 0 : 1] =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    }
    fused_rate.push_back(tokens / seconds[0]);
    plain_rate.push_back(tokens / seconds[1]);
    speedup.push_back(seconds[1] / seconds[0]);
    std::printf("pair %3d: fused %7.2f t/s, op by op %7.2f t/s, speedup %.4f\n", b,
                fused_rate.back(), plain_rate.back(), speedup.back());
  }
  std::printf("median: fused %.2f t/s, op by op %.2f t/s, speedup %.4f\n", Median(fused_rate),
              Median(plain_rate), Median(speedup));
  return 0;
}

}  // namespace
}  // namespace aiscore

int main(int argc, char** argv) { return aiscore::Main(argc, argv); }
