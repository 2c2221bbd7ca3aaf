// A plain FP64 implementation of the Llama forward pass, straight from the
// architecture's definition, over the reference-dequantized weights: the
// yardstick the engine's forward pass is tested against.
#ifndef AISCORE_TESTS_ENGINE_FP64_REFERENCE_MODEL_H_
#define AISCORE_TESTS_ENGINE_FP64_REFERENCE_MODEL_H_

#include <cmath>
#include <cstdint>
#include <vector>

#include "agent/engine/model_weights.h"
#include "agent/quant/format.h"

namespace aiscore {

// The largest NMSE of a backend's logits against Fp64Forward that passes. The
// F16 KV cache bounds F32 and F16; quantized formats add the backends' 8-bit
// activation quantization before every matmul.
inline double Fp64ForwardLimit(Format f) {
  return f == Format::kF32 || f == Format::kF16 ? 1e-5 : 2e-3;
}

// Returns logits [tokens.size()][vocab] of tokens at positions 0..n-1.
inline std::vector<double> Fp64Forward(const ModelWeights& w, const std::vector<int32_t>& tokens) {
  const ModelConfig& c = w.config;
  const int64_t n = tokens.size(), d = c.d_model, hd = c.head_dim(), kv = c.kv_dim();
  using Mat = std::vector<double>;
  auto dequant = [](const WeightTensor& t) {
    std::vector<float> f(t.elements());
    for (int64_t r = 0; r < t.rows; ++r) {
      Traits(t.format).dequantize(static_cast<const unsigned char*>(t.data) + r * t.row_bytes(),
                                  f.data() + r * t.cols, t.cols);
    }
    return Mat(f.begin(), f.end());
  };
  auto matmul = [](const Mat& x, int64_t rows_x, const Mat& wt, int64_t rows, int64_t cols) {
    Mat y(rows_x * rows, 0.0);
    for (int64_t i = 0; i < rows_x; ++i)
      for (int64_t r = 0; r < rows; ++r) {
        double s = 0;
        for (int64_t k = 0; k < cols; ++k) s += x[i * cols + k] * wt[r * cols + k];
        y[i * rows + r] = s;
      }
    return y;
  };
  auto rmsnorm = [&](const Mat& x, const WeightTensor& wt) {
    const Mat g = dequant(wt);
    Mat y(x.size());
    for (int64_t i = 0; i < n; ++i) {
      double ss = 0;
      for (int64_t k = 0; k < d; ++k) ss += x[i * d + k] * x[i * d + k];
      const double inv = 1.0 / std::sqrt(ss / d + c.norm_eps);
      for (int64_t k = 0; k < d; ++k) y[i * d + k] = x[i * d + k] * inv * g[k];
    }
    return y;
  };
  auto rope = [&](Mat& x, int64_t heads) {
    for (int64_t i = 0; i < n; ++i)
      for (int64_t h = 0; h < heads; ++h)
        for (int64_t p = 0; p < hd / 2; ++p) {
          const double angle = i * std::pow(static_cast<double>(c.rope_theta), -2.0 * p / hd);
          double* v = &x[(i * heads + h) * hd + 2 * p];
          const double a = v[0], b = v[1];
          v[0] = a * std::cos(angle) - b * std::sin(angle);
          v[1] = a * std::sin(angle) + b * std::cos(angle);
        }
  };
  const Mat emb = dequant(w.token_embd);
  Mat x(n * d);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k) x[i * d + k] = emb[tokens[i] * d + k];
  for (const LayerWeights& l : w.layers) {
    Mat h = rmsnorm(x, l.attn_norm);
    Mat q = matmul(h, n, dequant(l.wq), c.n_heads * hd, d);
    Mat k = matmul(h, n, dequant(l.wk), kv, d);
    Mat v = matmul(h, n, dequant(l.wv), kv, d);
    rope(q, c.n_heads);
    rope(k, c.n_kv_heads);
    Mat att(n * c.n_heads * hd, 0.0);
    const int64_t group = c.n_heads / c.n_kv_heads;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t hq = 0; hq < c.n_heads; ++hq) {
        const int64_t g = hq / group;
        std::vector<double> s(i + 1);
        double mx = -INFINITY;
        for (int64_t j = 0; j <= i; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < hd; ++e)
            dot += q[(i * c.n_heads + hq) * hd + e] * k[j * kv + g * hd + e];
          s[j] = dot / std::sqrt(static_cast<double>(hd));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int64_t j = 0; j <= i; ++j)
          for (int64_t e = 0; e < hd; ++e)
            att[(i * c.n_heads + hq) * hd + e] += s[j] / sum * v[j * kv + g * hd + e];
      }
    Mat o = matmul(att, n, dequant(l.wo), d, c.n_heads * hd);
    for (size_t e = 0; e < x.size(); ++e) x[e] += o[e];
    h = rmsnorm(x, l.ffn_norm);
    Mat gate = matmul(h, n, dequant(l.w_gate), c.d_ff, d);
    Mat up = matmul(h, n, dequant(l.w_up), c.d_ff, d);
    for (size_t e = 0; e < gate.size(); ++e) gate[e] = gate[e] / (1.0 + std::exp(-gate[e])) * up[e];
    Mat down = matmul(gate, n, dequant(l.w_down), d, c.d_ff);
    for (size_t e = 0; e < x.size(); ++e) x[e] += down[e];
  }
  return matmul(rmsnorm(x, w.output_norm), n, dequant(w.output), c.vocab_size, d);
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_ENGINE_FP64_REFERENCE_MODEL_H_
