#include "agent/cpu/cpu_backend.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_format.h"
#include "agent/cpu/matmul_kernel.h"
#include "agent/cpu/panel_layout.h"
#include "agent/cpu/read_bandwidth.h"
#include "agent/engine/align.h"
#include "agent/engine/host_memory.h"
#include "agent/engine/synthetic_weights.h"
#include "agent/quant/format.h"

namespace aiscore {
namespace {

class HostBuffer : public DeviceBuffer {
 public:
  HostBuffer(std::shared_ptr<void> memory, size_t size) : memory_(std::move(memory)), size_(size) {}
  void* data() override { return memory_.get(); }
  size_t size() const override { return size_; }

 private:
  std::shared_ptr<void> memory_;
  size_t size_;
};

int DefaultThreads(int requested) {
  if (requested > 0) return requested;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : static_cast<int>(n);
}

// Elementwise work is split into chunks of this many floats.
constexpr int64_t kElementGrain = 16384;

// Cache positions per run of decode attention over one KV head, for a token
// that sees len of them and a model of kv_heads KV heads: whole blocks, at
// most kDecodeRunBlocks, and runs enough that a token has about
// kDecodeTasks of them over its KV heads (so that up to that many threads
// share it). A function of len and kv_heads alone, so that the thread count
// does not change the bits.
constexpr int64_t kDecodeTasks = 16;
constexpr int64_t kDecodeRunBlocks = 16;
int64_t DecodeRunPositions(int64_t len, int64_t kv_heads) {
  const int64_t blocks = (len + kAttentionDecodeBlock - 1) / kAttentionDecodeBlock;
  const int64_t runs = std::max(std::min(blocks, (kDecodeTasks + kv_heads - 1) / kv_heads),
                                (blocks + kDecodeRunBlocks - 1) / kDecodeRunBlocks);
  return kAttentionDecodeBlock * ((blocks + runs - 1) / runs);
}

}  // namespace

CpuBackend::CpuBackend(int n_threads, Isa isa)
    : pool_(DefaultThreads(n_threads)),
      isa_(IsaSupported(isa) ? isa : BestIsa()),
      matmul_(&pool_, isa_),
      vec_(BestVecKernels(isa_)),
      decode_scratch_(pool_.size()),
      prefill_scratch_(pool_.size()) {}

std::string CpuBackend::device_name() const {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  }
  return "unknown CPU";
}

size_t CpuBackend::AvailableMemory() const { return AvailableHostMemory(); }

absl::StatusOr<std::unique_ptr<BandwidthProbe>> CpuBackend::CreateBandwidthProbe() {
  absl::StatusOr<std::unique_ptr<ReadBandwidthProbe>> probe =
      ReadBandwidthProbe::Create(pool_, isa_);
  if (!probe.ok()) return probe.status();
  return std::unique_ptr<BandwidthProbe>(*std::move(probe));
}

int64_t CpuBackend::PeakMemoryBytes() const { return PeakResidentBytes(); }

void CpuBackend::ResetPeakMemory() { ResetPeakResidentBytes(); }

std::unique_ptr<DeviceTimer> CpuBackend::CreateTimer() {
  // Ops are synchronous, so the host clock times them.
  class SteadyTimer : public DeviceTimer {
   public:
    void Start() override { start_ = std::chrono::steady_clock::now(); }
    absl::StatusOr<double> Stop() override {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    }

   private:
    std::chrono::steady_clock::time_point start_;
  };
  return std::make_unique<SteadyTimer>();
}

absl::StatusOr<std::unique_ptr<DeviceBuffer>> CpuBackend::Allocate(size_t bytes) {
  absl::StatusOr<std::shared_ptr<void>> memory = AllocateHostMemory(bytes);
  if (!memory.ok()) return memory.status();
  return std::make_unique<HostBuffer>(*std::move(memory), bytes);
}

absl::Status CpuBackend::CopyToDevice(void* device_dst, const void* host_src, size_t bytes) {
  std::memcpy(device_dst, host_src, bytes);
  return absl::OkStatus();
}

absl::Status CpuBackend::CopyToHost(void* host_dst, const void* device_src, size_t bytes) {
  std::memcpy(host_dst, device_src, bytes);
  return absl::OkStatus();
}

namespace {

// Drops the whole pages inside [p, p + bytes) of a read-only file mapping
// from memory; they are read back from the file if touched again.
void DropPages(const void* p, size_t bytes) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = AlignUp<uintptr_t>(reinterpret_cast<uintptr_t>(p), page);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) / page * page;
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace

bool CpuBackend::WantsPanels(const WeightTensor& t, const ModelWeights& w) const {
  // The embedding table is read a row at a time (Embed), never multiplied.
  return &t != &w.token_embd && t.layout == WeightLayout::kRows && HasPanelLayout(t.format) &&
         t.rows >= kPanelRows && BestMatMulKernel(t.format, isa_).panel_tile != nullptr;
}

absl::StatusOr<ModelWeights> CpuBackend::PrepareWeights(const ModelWeights& host) {
  // Weights are used where they lie. A mapped file larger than all of memory
  // would still "load", then page from disk on every token: say it does not fit.
  const size_t total = TotalHostMemory();
  if (total != 0 && host.TotalBytes() > total) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "model '%s' needs %.2f GiB for its weights, more than this machine's %.2f GiB of memory: "
        "it does not fit",
        host.config.name, host.TotalBytes() / 1073741824.0, total / 1073741824.0));
  }
  // Except the matrices the kernels read as panels: those are repacked into a
  // copy (weights from SynthesizeOnDevice come repacked already).
  auto aligned_bytes = [](const WeightTensor* t) { return AlignUp<size_t>(t->bytes(), 64); };
  ModelWeights prepared = host;
  std::vector<WeightTensor*> repack;
  size_t bytes = 0;
  for (WeightTensor* t : prepared.MutableTensors()) {
    if (!WantsPanels(*t, prepared)) continue;
    repack.push_back(t);
    bytes += aligned_bytes(t);
  }
  if (repack.empty()) return prepared;
  absl::StatusOr<std::shared_ptr<void>> copy = AllocateHostMemory(bytes);
  if (!copy.ok()) return copy.status();
  auto* out = static_cast<unsigned char*>(copy->get());
  for (WeightTensor* t : repack) {
    const WeightLayout layout = BestMatMulKernel(t->format, isa_).panel_layout;
    RepackPanels(t->format, layout, t->rows, t->cols, t->data, out, &pool_);
    // The file's pages just read would stay in this process's resident set
    // beside their copy while the file is mapped; drop them (whole pages only).
    if (host.file_mapped) DropPages(t->data, t->bytes());
    t->data = out;
    t->layout = layout;
    out += aligned_bytes(t);
  }
  prepared.storage =
      std::make_shared<std::pair<std::shared_ptr<const void>, std::shared_ptr<void>>>(
          host.storage, *std::move(copy));
  return prepared;
}

absl::StatusOr<ModelWeights> CpuBackend::SynthesizeOnDevice(const ModelConfig& config,
                                                            Format format, uint64_t seed) {
  // Made on the host as everywhere, then repacked in place: these bytes are
  // nobody else's, and a copy would double the model's memory.
  absl::StatusOr<ModelWeights> w = SynthesizeWeights(config, format, seed, pool_.size());
  if (!w.ok()) return w.status();
  for (WeightTensor* t : w->MutableTensors()) {
    if (!WantsPanels(*t, *w)) continue;
    const WeightLayout layout = BestMatMulKernel(t->format, isa_).panel_layout;
    RepackPanels(t->format, layout, t->rows, t->cols, t->data, const_cast<void*>(t->data), &pool_);
    t->layout = layout;
  }
  return w;
}

void CpuBackend::Embed(const WeightTensor& table, const int32_t* ids, int64_t n, float* out) {
  const FormatTraits& t = Traits(table.format);
  const auto* base = static_cast<const unsigned char*>(table.data);
  for (int64_t i = 0; i < n; ++i) {
    t.dequantize(base + static_cast<size_t>(ids[i]) * table.row_bytes(), out + i * table.cols,
                 table.cols);
  }
}

void CpuBackend::RmsNorm(const float* x, const WeightTensor& weight, int64_t n, int64_t d,
                         float eps, float* out) {
  const auto* w = static_cast<const float*>(weight.data);
  pool_.ParallelFor(n, std::max<int64_t>(1, kElementGrain / d), [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) vec_.rms_norm(x + i * d, w, d, eps, out + i * d);
  });
}

void CpuBackend::MatMul(const WeightTensor& w, const float* x, int64_t n, float* y) {
  matmul_.Run(w, x, n, y);
}

void CpuBackend::MatMuls(std::span<const WeightTensor* const> ws, const float* x, int64_t n,
                         std::span<float* const> ys) {
  matmul_.RunShared(ws, x, n, ys);
}

void CpuBackend::EnsureRopeTable(int64_t positions, int64_t head_dim, float theta) {
  if (positions <= rope_positions_ && head_dim == rope_head_dim_ && theta == rope_theta_) return;
  positions =
      std::max(positions, rope_head_dim_ == head_dim && rope_theta_ == theta ? 2 * rope_positions_
                                                                             : positions);
  const int64_t half = head_dim / 2;
  rope_cos_.resize(positions * half);
  rope_sin_.resize(positions * half);
  for (int64_t i = 0; i < half; ++i) {
    const double freq = std::pow(static_cast<double>(theta), -2.0 * i / head_dim);
    for (int64_t p = 0; p < positions; ++p) {
      rope_cos_[p * half + i] = static_cast<float>(std::cos(p * freq));
      rope_sin_[p * half + i] = static_cast<float>(std::sin(p * freq));
    }
  }
  rope_positions_ = positions;
  rope_head_dim_ = head_dim;
  rope_theta_ = theta;
}

void CpuBackend::RopeAndStoreKv(float* q, float* k, const float* v, int64_t n, int64_t pos,
                                const AttentionShape& s, uint16_t* k_cache, uint16_t* v_cache) {
  EnsureRopeTable(pos + n, s.head_dim, s.rope_theta);
  const int64_t half = s.head_dim / 2;
  const int64_t q_dim = s.n_heads * s.head_dim, kv_dim = s.n_kv_heads * s.head_dim;
  auto rotate = [&](float* head, const float* cs, const float* sn) {
    for (int64_t i = 0; i < half; ++i) {
      const float x0 = head[2 * i], x1 = head[2 * i + 1];
      head[2 * i] = x0 * cs[i] - x1 * sn[i];
      head[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
    }
  };
  pool_.ParallelFor(n, std::max<int64_t>(1, kElementGrain / q_dim), [&](int64_t b, int64_t e, int) {
    for (int64_t t = b; t < e; ++t) {
      const float* cs = &rope_cos_[(pos + t) * half];
      const float* sn = &rope_sin_[(pos + t) * half];
      for (int64_t h = 0; h < s.n_heads; ++h) rotate(q + t * q_dim + h * s.head_dim, cs, sn);
      for (int64_t h = 0; h < s.n_kv_heads; ++h) rotate(k + t * kv_dim + h * s.head_dim, cs, sn);
      for (int64_t g = 0; g < s.n_kv_heads; ++g) {
        const int64_t at = CpuBackend::KvCacheOffset(s, pos + t, g);
        vec_.f32_to_f16(k + t * kv_dim + g * s.head_dim, k_cache + at, s.head_dim);
        vec_.f32_to_f16(v + t * kv_dim + g * s.head_dim, v_cache + at, s.head_dim);
      }
    }
  });
}

void CpuBackend::Attention(const float* q, const uint16_t* k_cache, const uint16_t* v_cache,
                           int64_t n, int64_t pos, const AttentionShape& s, float* out) {
  const int64_t group = s.n_heads / s.n_kv_heads;  // query heads per kv head
  const int64_t hd = s.head_dim, q_dim = s.n_heads * hd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  if (vec_.attention_prefill != nullptr && n > kTokenwiseAttentionTokens && hd % 32 == 0 &&
      group <= kAttentionPrefillRows) {
    // Prefill: one task per (kv head, run of tokens), flash-style, so that
    // each K and V row converted serves up to 64 query rows.
    const int64_t tokens = kAttentionPrefillRows / group;
    const int64_t runs = (n + tokens - 1) / tokens;
    for (auto& sc : prefill_scratch_) {
      if (static_cast<int64_t>(sc.size()) < AttentionPrefillScratch(hd)) {
        sc.resize(AttentionPrefillScratch(hd));
      }
    }
    // Tasks go KV head by KV head, so that the threads read one head's
    // keys and values while they are in the last-level cache (one layer's
    // cache of a long prompt is larger), and within a head later runs, which
    // see more of the cache, first.
    pool_.ParallelFor(runs * s.n_kv_heads, 1, [&](int64_t b, int64_t e, int thread) {
      for (int64_t task = b; task < e; ++task) {
        const int64_t run = runs - 1 - task % runs, g = task / runs;
        const int64_t t0 = run * tokens, offset = t0 * q_dim + g * group * hd;
        vec_.attention_prefill(q + offset, q_dim, std::min(tokens, n - t0), group, hd,
                               k_cache + CpuBackend::KvCacheOffset(s, 0, g),
                               v_cache + CpuBackend::KvCacheOffset(s, 0, g), hd, pos + t0, scale,
                               out + offset, prefill_scratch_[thread].data());
      }
    });
    return;
  }
  // Decode and short batches, token by token: each token's cache positions
  // go, KV head by KV head, in runs (DecodeRunPositions: a function of the
  // token's position and the KV heads alone, so the thread count does not
  // change its bits), each read as one stream by one thread
  // (AttentionDecodeRun), then each head's runs are merged. Threads take
  // consecutive runs, so each reads its KV heads' keys and values in order,
  // as the cache lays them out.
  const int64_t part_floats = AttentionDecodePartFloats(group, hd);
  for (auto& sc : decode_scratch_) {
    if (static_cast<int64_t>(sc.size()) < AttentionDecodeScratch(group)) {
      sc.resize(AttentionDecodeScratch(group));
    }
  }
  for (int64_t t0 = 0; t0 < n; t0 += kTokenwiseAttentionTokens) {
    const int64_t t1 = std::min(n, t0 + kTokenwiseAttentionTokens);
    int64_t first[kTokenwiseAttentionTokens + 1] = {0};  // first run of each token
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t len = pos + t + 1, positions = DecodeRunPositions(len, s.n_kv_heads);
      first[t - t0 + 1] = first[t - t0] + s.n_kv_heads * ((len + positions - 1) / positions);
    }
    const int64_t runs = first[t1 - t0];
    if (static_cast<int64_t>(decode_parts_.size()) < runs * part_floats) {
      decode_parts_.resize(runs * part_floats);
    }
    // Thread th computes runs [runs * th / threads, runs * (th + 1) / threads).
    // A head whose runs one thread computed all of is merged by that thread,
    // in the same region, while the parts are in its cache; the others after
    // the region. The merge is the same either way, so are the bits.
    const int64_t threads = pool_.size();
    auto head_runs_of = [&](int64_t t) { return (first[t + 1] - first[t]) / s.n_kv_heads; };
    auto computer = [&](int64_t run) {  // the thread that computes `run`
      int64_t th = threads - 1;
      while (runs * th / threads > run) --th;
      return th;
    };
    auto merge = [&](int64_t t, int64_t g) {
      const int64_t head_runs = head_runs_of(t);
      AttentionMerge(vec_, decode_parts_.data() + (first[t] + g * head_runs) * part_floats,
                     head_runs, group, hd, out + (t0 + t) * q_dim + g * group * hd);
    };
    pool_.Run([&](int thread) {
      const int64_t lo = runs * thread / threads, hi = runs * (thread + 1) / threads;
      int64_t t = 0;
      for (int64_t run = lo; run < hi; ++run) {
        while (first[t + 1] <= run) ++t;
        const int64_t len = pos + t0 + t + 1, positions = DecodeRunPositions(len, s.n_kv_heads);
        const int64_t head_runs = head_runs_of(t);
        const int64_t g = (run - first[t]) / head_runs, r = (run - first[t]) % head_runs;
        const int64_t begin = r * positions, count = std::min(positions, len - begin);
        const int64_t at = CpuBackend::KvCacheOffset(s, begin, g);
        // After the head's last run, the next head's keys.
        const int64_t after = r + 1 < head_runs || g + 1 == s.n_kv_heads
                                  ? at + count * hd
                                  : CpuBackend::KvCacheOffset(s, 0, g + 1);
        AttentionDecodeRun(vec_, q + (t0 + t) * q_dim + g * group * hd, 1, group, hd, k_cache + at,
                           v_cache + at, hd, count, k_cache + after, scale,
                           decode_scratch_[thread].data(),
                           decode_parts_.data() + run * part_floats);
        if (r + 1 == head_runs && run - r >= lo) merge(t, g);  // the head's runs are all ours
      }
    });
    for (int64_t t = 0; t < t1 - t0; ++t) {
      const int64_t head_runs = head_runs_of(t);
      for (int64_t g = 0; g < s.n_kv_heads; ++g) {
        const int64_t head_first = first[t] + g * head_runs;
        if (computer(head_first) != computer(head_first + head_runs - 1)) merge(t, g);
      }
    }
  }
}

void CpuBackend::SwiGlu(const float* gate, const float* up, int64_t count, float* out) {
  // Its exponentials make it the costliest elementwise op: decode's one row
  // (14336 values, under kElementGrain) is split between the threads too
  // (Zen 5, Q2_K tg64 @ d512, 2 threads: 80 us a token against 96 with the
  // host slow, 183 against 225 fast).
  const int64_t share = (count + pool_.size() - 1) / pool_.size();
  pool_.ParallelFor(
      count, std::min(kElementGrain, AlignUp<int64_t>(share, 16)),
      [&](int64_t b, int64_t e, int) { vec_.silu_mul(gate + b, up + b, out + b, e - b); });
}

void CpuBackend::Add(float* x, const float* y, int64_t count) {
  pool_.ParallelFor(count, kElementGrain, [&](int64_t b, int64_t e, int) {
    for (int64_t i = b; i < e; ++i) x[i] += y[i];
  });
}

void CpuBackend::Argmax(const float* x, int64_t n, int64_t cols, int32_t* out) {
  for (int64_t i = 0; i < n; ++i) {
    const float* row = x + i * cols;
    out[i] = static_cast<int32_t>(std::max_element(row, row + cols) - row);
  }
}

}  // namespace aiscore
