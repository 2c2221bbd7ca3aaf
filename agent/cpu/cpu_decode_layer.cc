// CpuBackend's fused decoder layer for one token (decode): the ops of
// Backend::DecoderLayer in one pool region, parted by barriers, with the
// steps between matmuls spread over the threads (or done by each for
// itself) instead of run by one while the others wait. Every value is
// computed by the same function on the same inputs as op by op, so the
// results are the same bits.
//
// (Zen 5, Q2_K target-7b, 2 threads, alternating blocks of 16 tokens fused
// and op by op in one process: fused 0.7-1.6% faster in each of 5 runs.
// Gate and up cut row for row, SwiGLU on each chunk as it was computed,
// were 1-2% slower than op by op: the weights then came in four streams a
// thread instead of two. Prefetching the start of each thread's next share
// while it waited at a barrier made no measurable difference.)
#include <algorithm>
#include <array>
#include <cstdint>

#include "agent/cpu/cpu_backend.h"
#include "agent/cpu/matmul.h"
#include "agent/cpu/matmul_kernel.h"

namespace aiscore {
namespace {

// Up to three matmuls that read the same activations (q, k and v; or one),
// as one stretch of work in units of their kernels' tiles, the tensors one
// after another, as CpuMatMul::RunShared lays them out. Tensors of another
// kernel than the first read their own conversion of the activations.
struct Stage {
  int count = 0;
  std::array<const WeightTensor*, 3> w{};
  std::array<const MatMulKernel*, 3> k{};
  std::array<float*, 3> y{};
  std::array<int, 3> slot{};  // which conversion tensor i reads
  std::array<int64_t, 3> tiles{};
  int slots = 0;  // conversions, in the order of their first tensor
  std::array<const MatMulKernel*, 3> slot_kernel{};

  void Add(const WeightTensor& t, Isa isa, float* out) {
    const MatMulKernel& kernel = BestMatMulKernel(t.format, isa);
    CheckReadable(kernel, t);
    int s = 0;
    while (s < slots && slot_kernel[s] != &kernel) ++s;
    if (s == slots) slot_kernel[slots++] = &kernel;
    w[count] = &t;
    k[count] = &kernel;
    y[count] = out;
    slot[count] = s;
    tiles[count] = (t.rows + kernel.tile_rows - 1) / kernel.tile_rows;
    ++count;
  }
  int64_t units() const {
    int64_t total = 0;
    for (int i = 0; i < count; ++i) total += tiles[i];
    return total;
  }
  // Calls fn(i, row_begin, row_end) for the rows of tensor i in units [first, first + n).
  template <typename Fn>
  void ForRows(int64_t first, int64_t n, Fn&& fn) const {
    const int64_t end = first + n;
    int64_t u = 0;  // tensor i's first unit
    for (int i = 0; i < count && u < end; u += tiles[i], ++i) {
      const int64_t b = std::max(first, u), e = std::min(end, u + tiles[i]);
      if (b < e) fn(i, (b - u) * k[i]->tile_rows, std::min(w[i]->rows, (e - u) * k[i]->tile_rows));
    }
  }
};

}  // namespace

void CpuBackend::DecoderLayer(const LayerWeights& w, const ModelConfig& c,
                              const AttentionShape& shape, int64_t n, int64_t pos, float* x,
                              uint16_t* k_cache, uint16_t* v_cache, const LayerScratch& s) {
  if (n != 1 || !fused_decode_) {
    Backend::DecoderLayer(w, c, shape, n, pos, x, k_cache, v_cache, s);
    return;
  }
  FusedDecodeLayer(w, c, shape, pos, x, k_cache, v_cache, s);
}

void CpuBackend::FusedDecodeLayer(const LayerWeights& w, const ModelConfig& c,
                                  const AttentionShape& shape, int64_t pos, float* x,
                                  uint16_t* k_cache, uint16_t* v_cache, const LayerScratch& s) {
  const int threads = pool_.size();
  const int64_t d = c.d_model, hd = shape.head_dim;
  const int64_t kv_dim = shape.n_kv_heads * hd, len = pos + 1;

  Stage qkv, wo, gate_up, down;
  qkv.Add(w.wq, isa_, s.q);
  qkv.Add(w.wk, isa_, s.k);
  qkv.Add(w.wv, isa_, s.v);
  wo.Add(w.wo, isa_, s.proj);
  gate_up.Add(w.w_gate, isa_, s.gate);
  gate_up.Add(w.w_up, isa_, s.up);
  down.Add(w.w_down, isa_, s.proj);

  // Each thread's own normed row and converted activations: a slot per
  // conversion, wide enough for any of this layer's.
  const int64_t widest = std::max({d, shape.n_heads * hd, c.d_ff});
  size_t slot_bytes = 0;
  for (const Stage* st : {&qkv, &wo, &gate_up, &down}) {
    for (int i = 0; i < st->slots; ++i) {
      slot_bytes = std::max(slot_bytes, ActivationStride(*st->slot_kernel[i], widest));
    }
  }
  slot_bytes = (slot_bytes + 63) / 64 * 64;
  layer_h_.resize(threads);
  layer_act_.resize(threads);
  for (int t = 0; t < threads; ++t) {
    if (static_cast<int64_t>(layer_h_[t].size()) < d) layer_h_[t].resize(d);
    if (layer_act_[t].size() < 3 * slot_bytes) layer_act_[t].resize(3 * slot_bytes);
  }
  EnsureRopeTable(len, hd, shape.rope_theta);
  const int64_t runs = DecodeRuns(len);
  EnsureDecodeScratch(shape, runs);
  const int64_t part_floats = AttentionDecodePartFloats(shape.n_heads, hd);

  WorkShares qkv_shares(qkv.units(), threads), wo_shares(wo.units(), threads),
      gate_up_shares(gate_up.units(), threads), down_shares(down.units(), threads);
  SpinBarrier barrier(threads);
  const auto* attn_norm = static_cast<const float*>(w.attn_norm.data);
  const auto* ffn_norm = static_cast<const float*>(w.ffn_norm.data);

  pool_.Run([&](int t) {
    unsigned char* act = layer_act_[t].data();
    auto slot = [&](int i) { return act + i * slot_bytes; };
    // This thread's conversions of `in` (cols floats) for each slot of st.
    auto convert = [&](const Stage& st, const float* in, int64_t cols) {
      for (int i = 0; i < st.slots; ++i) st.slot_kernel[i]->convert_activations(in, cols, slot(i));
    };
    // The thread's chunks of st, rows into their outputs, then `after`.
    auto matmuls = [&](const Stage& st, WorkShares& shares, auto&& after) {
      shares.Walk(t, [&](int64_t first, int64_t count) {
        st.ForRows(first, count, [&](int i, int64_t b, int64_t e) {
          MatMulRows(*st.k[i], *st.w[i], slot(st.slot[i]), b, e, st.y[i]);
          after(b, e);
        });
      });
    };
    auto add_rows = [&](int64_t b, int64_t e) {
      for (int64_t r = b; r < e; ++r) x[r] += s.proj[r];
    };
    // Items [0, count) split evenly, thread t's part.
    auto part = [&](int64_t count) {
      return std::pair<int64_t, int64_t>{count * t / threads, count * (t + 1) / threads};
    };

    // Attention: q, k and v of this thread's rows.
    float* h = layer_h_[t].data();
    vec_.rms_norm(x, attn_norm, d, c.norm_eps, h);
    convert(qkv, h, d);
    matmuls(qkv, qkv_shares, [](int64_t, int64_t) {});
    barrier.Wait();
    // Rotary embeddings and the cache store, head by head.
    const auto [head_begin, head_end] = part(shape.n_heads + shape.n_kv_heads);
    for (int64_t i = head_begin; i < head_end; ++i) {
      if (i < shape.n_heads) {
        RotateHead(s.q + i * hd, pos);
        continue;
      }
      const int64_t g = i - shape.n_heads;
      RotateHead(s.k + g * hd, pos);
      vec_.f32_to_f16(s.k + g * hd, k_cache + pos * kv_dim + g * hd, hd);
      vec_.f32_to_f16(s.v + g * hd, v_cache + pos * kv_dim + g * hd, hd);
    }
    barrier.Wait();
    const auto [run_begin, run_end] = part(runs);
    for (int64_t run = run_begin; run < run_end; ++run) {
      DecodeRun(s.q, k_cache, v_cache, len, run, shape, t,
                decode_parts_.data() + run * part_floats);
    }
    barrier.Wait();
    const auto [merge_begin, merge_end] = part(shape.n_heads);
    AttentionMergeHeads(vec_, decode_parts_.data(), runs, shape.n_heads, hd, merge_begin, merge_end,
                        s.att);
    barrier.Wait();
    convert(wo, s.att, shape.n_heads * hd);
    matmuls(wo, wo_shares, add_rows);
    barrier.Wait();

    // Feed-forward.
    vec_.rms_norm(x, ffn_norm, d, c.norm_eps, h);
    convert(gate_up, h, d);
    matmuls(gate_up, gate_up_shares, [](int64_t, int64_t) {});
    barrier.Wait();
    // SwiGLU in whole vectors of 16 (the last part to the end), as one call would take them.
    const auto [unit_begin, unit_end] = part((c.d_ff + 15) / 16);
    const int64_t silu_begin = unit_begin * 16, silu_end = std::min(c.d_ff, unit_end * 16);
    if (silu_begin < silu_end) {
      vec_.silu_mul(s.gate + silu_begin, s.up + silu_begin, s.gate + silu_begin,
                    silu_end - silu_begin);
    }
    barrier.Wait();
    convert(down, s.gate, c.d_ff);
    matmuls(down, down_shares, add_rows);
  });
}

}  // namespace aiscore
