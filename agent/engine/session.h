// A model loaded on a backend with its KV cache: runs the Llama forward pass
// over tokens at given positions and returns logits or greedy tokens.
//
// The session owns the device copy of the weights, the F16 KV cache (per
// layer max_context * kv_dim halves for K and for V, laid out as
// Backend::KvCacheOffset says) and scratch for micro-batches of up to
// max_batch tokens; longer inputs are split. The cache holds positions
// [0, cached_tokens()); Forward at position p < that overwrites from p on,
// which is how speculative decoding rolls back. Not thread-safe; the backend
// it was made with must outlive it.
#ifndef AISCORE_AGENT_ENGINE_SESSION_H_
#define AISCORE_AGENT_ENGINE_SESSION_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "agent/engine/backend.h"
#include "agent/engine/model_weights.h"

namespace aiscore {

struct SessionOptions {
  int64_t max_context = 0;  // tokens the KV cache holds; 0 means the model's max_context
  int64_t max_batch = 512;  // tokens per micro-batch
};

enum class Logits {
  kNone,  // compute no logits (prefill whose output is not needed)
  kLast,  // logits of the last token only
  kAll,   // logits of every token
};

// Device bytes a session needs beside the weights: KV cache and scratch.
int64_t SessionOverheadBytes(const ModelConfig& config, const SessionOptions& options);

class Session {
 public:
  static absl::StatusOr<std::unique_ptr<Session>> Create(Backend* backend,
                                                         const ModelWeights& weights,
                                                         SessionOptions options = {});

  // Runs `tokens` at positions [pos, pos + n). Requires pos <= cached_tokens()
  // and pos + n <= max_context; every token must be < vocab_size. Afterwards
  // cached_tokens() == pos + n and logits() holds [rows][vocab] floats, rows
  // being 1 (kLast), n (kAll) or 0 (kNone).
  absl::Status Forward(std::span<const int32_t> tokens, int64_t pos, Logits logits);

  // Forward with kLast, then the argmax token, taken on the device.
  absl::StatusOr<int32_t> NextToken(std::span<const int32_t> tokens, int64_t pos);
  // Greedy continuation: feeds `prompt` at cached_tokens() and then each new token.
  absl::StatusOr<std::vector<int32_t>> Generate(std::span<const int32_t> prompt, int64_t count);

  const std::vector<float>& logits() const { return logits_; }
  int64_t cached_tokens() const { return cached_; }
  void Reset() { cached_ = 0; }
  // Forgets positions >= n (n <= cached_tokens()).
  void Truncate(int64_t n);

  const ModelConfig& config() const { return weights_.config; }
  const SessionOptions& options() const { return options_; }
  Backend* backend() const { return backend_; }
  int64_t DeviceBytes() const;  // weights (when copied) + cache + scratch

 private:
  Session(Backend* backend, ModelWeights weights, SessionOptions options);
  absl::Status Allocate();
  // One micro-batch of n <= max_batch tokens already on the device in ids_.
  void ForwardBatch(int64_t n, int64_t pos, Logits logits, float* logits_out);

  Backend* backend_;
  ModelWeights weights_;  // device copy
  SessionOptions options_;
  AttentionShape shape_;
  int64_t cached_ = 0;
  std::vector<float> logits_;  // host copy [rows][vocab]

  std::vector<std::unique_ptr<DeviceBuffer>> buffers_;
  uint16_t* k_cache_ = nullptr;  // n_layers x max_context * kv_dim halves
  uint16_t* v_cache_ = nullptr;  // n_layers x max_context * kv_dim halves
  int32_t* ids_ = nullptr;       // [max_batch]
  int32_t* argmax_ = nullptr;    // [1]
  float* x_ = nullptr;           // [max_batch][d_model] residual stream
  float* h_ = nullptr;           // [max_batch][d_model] normed input
  float* q_ = nullptr;           // [max_batch][n_heads * head_dim]
  float* k_ = nullptr;           // [max_batch][kv_dim]
  float* v_ = nullptr;           // [max_batch][kv_dim]
  float* att_ = nullptr;         // [max_batch][n_heads * head_dim]
  float* proj_ = nullptr;        // [max_batch][d_model] attention / FFN output
  float* gate_ = nullptr;        // [max_batch][d_ff]
  float* up_ = nullptr;          // [max_batch][d_ff]
  float* out_ = nullptr;         // [max_batch][vocab] logits
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_SESSION_H_
