#include "agent/engine/model_weights.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/engine/align.h"
#include "agent/engine/host_memory.h"

namespace aiscore {
namespace {

constexpr size_t kTensorAlignment = 64;

WeightTensor Describe(std::string name, Format format, int64_t rows, int64_t cols) {
  WeightTensor t;
  t.name = std::move(name);
  t.format = format;
  t.rows = rows;
  t.cols = cols;
  return t;
}

std::string LayerName(int64_t layer, const char* role) {
  return absl::StrCat("blk.", layer, ".", role, ".weight");
}

template <typename Weights, typename Out>
void ListTensors(Weights& w, std::vector<Out>& out) {
  out.push_back(&w.token_embd);
  out.push_back(&w.output_norm);
  out.push_back(&w.output);
  for (auto& l : w.layers) {
    for (auto* t :
         {&l.attn_norm, &l.wq, &l.wk, &l.wv, &l.wo, &l.ffn_norm, &l.w_gate, &l.w_up, &l.w_down}) {
      out.push_back(t);
    }
  }
}

}  // namespace

std::vector<const WeightTensor*> ModelWeights::Tensors() const {
  std::vector<const WeightTensor*> out;
  ListTensors(*this, out);
  return out;
}

std::vector<WeightTensor*> ModelWeights::MutableTensors() {
  std::vector<WeightTensor*> out;
  ListTensors(*this, out);
  return out;
}

size_t ModelWeights::TotalBytes() const {
  size_t total = 0;
  for (const WeightTensor* t : Tensors()) total += t->bytes();
  return total;
}

absl::StatusOr<ModelWeights> DescribeWeights(const ModelConfig& config, Format format) {
  if (absl::Status s = config.Validate(); !s.ok()) return s;
  const int block = Traits(format).block_size;
  if (config.d_model % block != 0 || config.d_ff % block != 0) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "model '%s' cannot be stored as %s: d_model (%d) and d_ff (%d) must be multiples of %d",
        config.name, FormatName(format), config.d_model, config.d_ff, block));
  }
  ModelWeights w;
  w.config = config;
  w.format = format;
  const int64_t d = config.d_model;
  w.token_embd = Describe("token_embd.weight", format, config.vocab_size, d);
  w.output_norm = Describe("output_norm.weight", Format::kF32, 1, d);
  w.output = Describe("output.weight", format, config.vocab_size, d);
  w.layers.resize(config.n_layers);
  for (int64_t i = 0; i < config.n_layers; ++i) {
    LayerWeights& l = w.layers[i];
    l.attn_norm = Describe(LayerName(i, "attn_norm"), Format::kF32, 1, d);
    l.wq = Describe(LayerName(i, "attn_q"), format, config.n_heads * config.head_dim(), d);
    l.wk = Describe(LayerName(i, "attn_k"), format, config.kv_dim(), d);
    l.wv = Describe(LayerName(i, "attn_v"), format, config.kv_dim(), d);
    l.wo = Describe(LayerName(i, "attn_output"), format, d, config.n_heads * config.head_dim());
    l.ffn_norm = Describe(LayerName(i, "ffn_norm"), Format::kF32, 1, d);
    l.w_gate = Describe(LayerName(i, "ffn_gate"), format, config.d_ff, d);
    l.w_up = Describe(LayerName(i, "ffn_up"), format, config.d_ff, d);
    l.w_down = Describe(LayerName(i, "ffn_down"), format, d, config.d_ff);
  }
  return w;
}

absl::StatusOr<ModelWeights> AllocateWeights(const ModelConfig& config, Format format) {
  absl::StatusOr<ModelWeights> described = DescribeWeights(config, format);
  if (!described.ok()) return described.status();
  ModelWeights w = *std::move(described);
  size_t total = 0;
  for (const WeightTensor* t : w.Tensors()) total += AlignUp(t->bytes(), kTensorAlignment);
  const size_t available = AvailableHostMemory();
  if (available != 0 && total > available) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "model '%s' at %s needs %.2f GiB of memory for its weights, but only %.2f GiB is "
        "available: it does not fit",
        config.name, FormatName(format), total / 1073741824.0, available / 1073741824.0));
  }
  absl::StatusOr<std::shared_ptr<void>> memory = AllocateHostMemory(total);
  if (!memory.ok()) return memory.status();
  auto* base = static_cast<unsigned char*>(memory->get());
  w.storage = *std::move(memory);
  size_t offset = 0;
  for (WeightTensor* t : w.MutableTensors()) {
    t->data = base + offset;
    offset += AlignUp(t->bytes(), kTensorAlignment);
  }
  return w;
}

absl::Status CheckWeights(const ModelWeights& w) {
  absl::StatusOr<ModelWeights> expected = DescribeWeights(w.config, w.format);
  if (!expected.ok()) return expected.status();
  const std::vector<const WeightTensor*> want = expected->Tensors();
  const std::vector<const WeightTensor*> have = w.Tensors();
  for (size_t i = 0; i < want.size(); ++i) {
    const WeightTensor& a = *have[i];
    const WeightTensor& e = *want[i];
    if (a.rows != e.rows || a.cols != e.cols) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "tensor '%s' has shape [%d, %d] (ne0, ne1) but the model config implies [%d, %d]", e.name,
          a.cols, a.rows, e.cols, e.rows));
    }
    if (a.cols % Traits(a.format).block_size != 0) {
      return absl::InvalidArgumentError(
          absl::StrFormat("tensor '%s': %d columns are not a whole number of %s blocks", e.name,
                          a.cols, FormatName(a.format)));
    }
    if (a.data == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", e.name, "' has no data"));
    }
  }
  return absl::OkStatus();
}

}  // namespace aiscore
