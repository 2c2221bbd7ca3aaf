#include "agent/engine/backend.h"

namespace aiscore {

void Backend::DecoderLayer(const LayerWeights& w, const ModelConfig& c, const AttentionShape& shape,
                           int64_t n, int64_t pos, float* x, uint16_t* k_cache, uint16_t* v_cache,
                           const LayerScratch& s) {
  const int64_t d = c.d_model;
  RmsNorm(x, w.attn_norm, n, d, c.norm_eps, s.h);
  {
    const WeightTensor* ws[] = {&w.wq, &w.wk, &w.wv};
    float* ys[] = {s.q, s.k, s.v};
    MatMuls(ws, s.h, n, ys);
  }
  RopeAndStoreKv(s.q, s.k, s.v, n, pos, shape, k_cache, v_cache);
  Attention(s.q, k_cache, v_cache, n, pos, shape, s.att);
  MatMul(w.wo, s.att, n, s.proj);
  Add(x, s.proj, n * d);
  RmsNorm(x, w.ffn_norm, n, d, c.norm_eps, s.h);
  {
    const WeightTensor* ws[] = {&w.w_gate, &w.w_up};
    float* ys[] = {s.gate, s.up};
    MatMuls(ws, s.h, n, ys);
  }
  SwiGlu(s.gate, s.up, n * c.d_ff, s.gate);
  MatMul(w.w_down, s.gate, n, s.proj);
  Add(x, s.proj, n * d);
}

}  // namespace aiscore
