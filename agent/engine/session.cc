#include "agent/engine/session.h"

#include <algorithm>

#include "absl/strings/str_format.h"

namespace aiscore {
namespace {

struct ScratchSizes {
  int64_t floats_per_token;
  int64_t cache_bytes;
};

ScratchSizes Sizes(const ModelConfig& c, int64_t max_context) {
  const int64_t q_dim = c.n_heads * c.head_dim();
  return {3 * c.d_model + 2 * q_dim + 2 * c.kv_dim() + 2 * c.d_ff + c.vocab_size,
          2 * c.n_layers * max_context * c.kv_dim() * static_cast<int64_t>(sizeof(uint16_t))};
}

SessionOptions Resolve(const ModelConfig& c, SessionOptions o) {
  if (o.max_context <= 0) o.max_context = c.max_context;
  if (o.max_batch <= 0) o.max_batch = 512;
  o.max_batch = std::min(o.max_batch, o.max_context);
  return o;
}

}  // namespace

int64_t SessionOverheadBytes(const ModelConfig& config, const SessionOptions& options) {
  const SessionOptions o = Resolve(config, options);
  const ScratchSizes s = Sizes(config, o.max_context);
  return s.cache_bytes + o.max_batch * (s.floats_per_token * 4 + 4) + 4;
}

Session::Session(Backend* backend, ModelWeights weights, SessionOptions options)
    : backend_(backend), weights_(std::move(weights)), options_(options) {
  const ModelConfig& c = weights_.config;
  shape_ = {c.n_heads, c.n_kv_heads, c.head_dim(), c.rope_theta, options_.max_context};
}

absl::StatusOr<std::unique_ptr<Session>> Session::Create(Backend* backend,
                                                         const ModelWeights& weights,
                                                         SessionOptions options) {
  if (absl::Status s = CheckWeights(weights); !s.ok()) return s;
  options = Resolve(weights.config, options);
  if (options.max_context > weights.config.max_context) {
    return absl::InvalidArgumentError(
        absl::StrFormat("a context of %d tokens exceeds the model's maximum of %d",
                        options.max_context, weights.config.max_context));
  }
  const int64_t overhead = SessionOverheadBytes(weights.config, options);
  const size_t available = backend->AvailableMemory();
  if (available != 0 && static_cast<size_t>(overhead) > available) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "the KV cache and scratch for %d tokens need %.2f GiB, but %s has %.2f GiB available: "
        "it does not fit",
        options.max_context, overhead / 1073741824.0, backend->device_name(),
        available / 1073741824.0));
  }
  absl::StatusOr<ModelWeights> device = backend->PrepareWeights(weights);
  if (!device.ok()) return device.status();
  std::unique_ptr<Session> session(new Session(backend, *std::move(device), options));
  if (absl::Status s = session->Allocate(); !s.ok()) return s;
  return session;
}

absl::Status Session::Allocate() {
  const ModelConfig& c = weights_.config;
  const int64_t b = options_.max_batch;
  const ScratchSizes s = Sizes(c, options_.max_context);
  auto alloc = [&](size_t bytes) -> absl::StatusOr<void*> {
    absl::StatusOr<std::unique_ptr<DeviceBuffer>> buf = backend_->Allocate(bytes);
    if (!buf.ok()) return buf.status();
    void* p = (*buf)->data();
    buffers_.push_back(*std::move(buf));
    return p;
  };
  absl::StatusOr<void*> cache = alloc(s.cache_bytes);
  absl::StatusOr<void*> ids = alloc((b + 1) * sizeof(int32_t));
  absl::StatusOr<void*> scratch = alloc(b * s.floats_per_token * sizeof(float));
  for (const auto* r : {&cache, &ids, &scratch}) {
    if (!r->ok()) return r->status();
  }
  k_cache_ = static_cast<uint16_t*>(*cache);
  v_cache_ = k_cache_ + s.cache_bytes / 4;
  ids_ = static_cast<int32_t*>(*ids);
  argmax_ = ids_ + b;
  const int64_t q_dim = c.n_heads * c.head_dim();
  float* p = static_cast<float*>(*scratch);
  auto take = [&](int64_t per_token) {
    float* out = p;
    p += b * per_token;
    return out;
  };
  x_ = take(c.d_model);
  h_ = take(c.d_model);
  proj_ = take(c.d_model);
  q_ = take(q_dim);
  att_ = take(q_dim);
  k_ = take(c.kv_dim());
  v_ = take(c.kv_dim());
  gate_ = take(c.d_ff);
  up_ = take(c.d_ff);
  out_ = take(c.vocab_size);
  return absl::OkStatus();
}

int64_t Session::DeviceBytes() const {
  int64_t total = 0;
  for (const auto& b : buffers_) total += static_cast<int64_t>(b->size());
  if (backend_->name() != "cpu") total += static_cast<int64_t>(weights_.TotalBytes());
  return total;
}

void Session::Truncate(int64_t n) { cached_ = std::clamp<int64_t>(n, 0, cached_); }

void Session::ForwardBatch(int64_t n, int64_t pos, Logits logits, float* logits_out) {
  const ModelConfig& c = weights_.config;
  const int64_t d = c.d_model, kv = c.kv_dim();
  const int64_t cache_layer = options_.max_context * kv;
  Backend& be = *backend_;
  be.Embed(weights_.token_embd, ids_, n, x_);
  for (int64_t l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    be.RmsNorm(x_, w.attn_norm, n, d, c.norm_eps, h_);
    {
      const WeightTensor* ws[] = {&w.wq, &w.wk, &w.wv};
      float* ys[] = {q_, k_, v_};
      be.MatMuls(ws, h_, n, ys);
    }
    uint16_t* kc = k_cache_ + l * cache_layer;
    uint16_t* vc = v_cache_ + l * cache_layer;
    be.RopeAndStoreKv(q_, k_, v_, n, pos, shape_, kc, vc);
    be.Attention(q_, kc, vc, n, pos, shape_, att_);
    be.MatMul(w.wo, att_, n, proj_);
    be.Add(x_, proj_, n * d);
    be.RmsNorm(x_, w.ffn_norm, n, d, c.norm_eps, h_);
    {
      const WeightTensor* ws[] = {&w.w_gate, &w.w_up};
      float* ys[] = {gate_, up_};
      be.MatMuls(ws, h_, n, ys);
    }
    be.SwiGlu(gate_, up_, n * c.d_ff, gate_);
    be.MatMul(w.w_down, gate_, n, proj_);
    be.Add(x_, proj_, n * d);
  }
  if (logits == Logits::kNone) return;
  const int64_t first = logits == Logits::kLast ? n - 1 : 0;
  const int64_t rows = n - first;
  be.RmsNorm(x_ + first * d, weights_.output_norm, rows, d, c.norm_eps, h_);
  be.MatMul(weights_.output, h_, rows, logits_out);
}

absl::Status Session::Forward(std::span<const int32_t> tokens, int64_t pos, Logits logits) {
  const ModelConfig& c = weights_.config;
  const int64_t n = static_cast<int64_t>(tokens.size());
  if (n == 0) return absl::InvalidArgumentError("no tokens to run");
  if (pos < 0 || pos > cached_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("position %d is past the %d tokens in the cache", pos, cached_));
  }
  if (pos + n > options_.max_context) {
    return absl::OutOfRangeError(absl::StrFormat(
        "%d tokens at position %d exceed the context of %d tokens", n, pos, options_.max_context));
  }
  for (int64_t i = 0; i < n; ++i) {
    if (tokens[i] < 0 || tokens[i] >= c.vocab_size) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "token %d at index %d is outside the vocabulary [0, %d)", tokens[i], i, c.vocab_size));
    }
  }
  const int64_t rows = logits == Logits::kAll ? n : (logits == Logits::kLast ? 1 : 0);
  logits_.resize(rows * c.vocab_size);
  const int64_t b = options_.max_batch;
  for (int64_t start = 0; start < n; start += b) {
    const int64_t m = std::min(b, n - start);
    const bool last = start + m == n;
    const Logits want = logits == Logits::kAll ? Logits::kAll : (last ? logits : Logits::kNone);
    if (absl::Status s = backend_->CopyToDevice(ids_, tokens.data() + start, m * sizeof(int32_t));
        !s.ok()) {
      return s;
    }
    ForwardBatch(m, pos + start, want, out_);
    if (want != Logits::kNone) {
      const int64_t got = want == Logits::kAll ? m : 1;
      float* dst = logits_.data() + (logits == Logits::kAll ? start * c.vocab_size : 0);
      if (absl::Status s = backend_->CopyToHost(dst, out_, got * c.vocab_size * sizeof(float));
          !s.ok()) {
        return s;
      }
    }
  }
  if (absl::Status s = backend_->Synchronize(); !s.ok()) return s;
  cached_ = pos + n;
  return absl::OkStatus();
}

absl::StatusOr<int32_t> Session::NextToken(std::span<const int32_t> tokens, int64_t pos) {
  if (absl::Status s = Forward(tokens, pos, Logits::kLast); !s.ok()) return s;
  backend_->Argmax(out_, 1, weights_.config.vocab_size, argmax_);
  int32_t token = 0;
  if (absl::Status s = backend_->CopyToHost(&token, argmax_, sizeof(token)); !s.ok()) return s;
  if (absl::Status s = backend_->Synchronize(); !s.ok()) return s;
  return token;
}

absl::StatusOr<std::vector<int32_t>> Session::Generate(std::span<const int32_t> prompt,
                                                       int64_t count) {
  std::vector<int32_t> out;
  if (count <= 0) return out;
  absl::StatusOr<int32_t> next = NextToken(prompt, cached_);
  while (next.ok()) {
    out.push_back(*next);
    if (static_cast<int64_t>(out.size()) == count) return out;
    next = NextToken(std::span<const int32_t>(&out.back(), 1), cached_);
  }
  return next.status();
}

}  // namespace aiscore
