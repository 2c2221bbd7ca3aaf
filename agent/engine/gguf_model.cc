#include "agent/engine/gguf_model.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>
#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/engine/align.h"
#include "agent/engine/gguf_file.h"

namespace aiscore {
namespace {

constexpr uint32_t kWriteAlignment = kGgufDefaultAlignment;

// Keys of the llama architecture (llama.cpp src/llama-arch.cpp).
constexpr char kArchitecture[] = "general.architecture";
constexpr char kName[] = "general.name";
constexpr char kFileType[] = "general.file_type";
constexpr char kAlignment[] = "general.alignment";
constexpr char kContextLength[] = "llama.context_length";
constexpr char kEmbeddingLength[] = "llama.embedding_length";
constexpr char kBlockCount[] = "llama.block_count";
constexpr char kFeedForwardLength[] = "llama.feed_forward_length";
constexpr char kHeadCount[] = "llama.attention.head_count";
constexpr char kHeadCountKv[] = "llama.attention.head_count_kv";
constexpr char kKeyLength[] = "llama.attention.key_length";
constexpr char kValueLength[] = "llama.attention.value_length";
constexpr char kRmsEpsilon[] = "llama.attention.layer_norm_rms_epsilon";
constexpr char kRopeFreqBase[] = "llama.rope.freq_base";
constexpr char kRopeDimensionCount[] = "llama.rope.dimension_count";
constexpr char kRopeScalingType[] = "llama.rope.scaling.type";
constexpr char kRopeScalingFactor[] = "llama.rope.scaling.factor";
constexpr char kRopeScaleLinear[] = "llama.rope.scale_linear";
constexpr char kRopeScalingAttnFactor[] = "llama.rope.scaling.attn_factor";
constexpr char kExpertCount[] = "llama.expert_count";
constexpr char kVocabSize[] = "llama.vocab_size";
constexpr char kTokenizerModel[] = "tokenizer.ggml.model";

// LLAMA_FTYPE_* (llama.cpp include/llama.h).
constexpr uint32_t kFtypeAllF32 = 0;
constexpr uint32_t kFtypeMostlyF16 = 1;
constexpr uint32_t kFtypeMostlyQ8_0 = 7;
constexpr uint32_t kFtypeMostlyQ2_K = 10;
constexpr uint32_t kFtypeMostlyQ3_K_S = 11;
constexpr uint32_t kFtypeMostlyQ3_K_M = 12;
constexpr uint32_t kFtypeMostlyQ3_K_L = 13;
constexpr uint32_t kFtypeMostlyQ4_K_S = 14;
constexpr uint32_t kFtypeMostlyQ4_K_M = 15;
constexpr uint32_t kFtypeMostlyQ6_K = 18;
constexpr uint32_t kFtypeMostlyQ2_K_S = 21;

absl::Status WithPrefix(const absl::Status& s, std::string_view prefix) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(std::string(prefix), ": ", s.message()));
}

// The format general.file_type names, if it is one aiscore computes with.
bool FormatFromFileType(int64_t ftype, Format* out) {
  switch (ftype) {
    case kFtypeAllF32:
      *out = Format::kF32;
      return true;
    case kFtypeMostlyF16:
      *out = Format::kF16;
      return true;
    case kFtypeMostlyQ8_0:
      *out = Format::kQ8_0;
      return true;
    case kFtypeMostlyQ2_K:
    case kFtypeMostlyQ2_K_S:
      *out = Format::kQ2_K;
      return true;
    case kFtypeMostlyQ4_K_S:
    case kFtypeMostlyQ4_K_M:
      *out = Format::kQ4_K;
      return true;
    case kFtypeMostlyQ6_K:
      *out = Format::kQ6_K;
      return true;
    case kFtypeMostlyQ3_K_S:
    case kFtypeMostlyQ3_K_M:
    case kFtypeMostlyQ3_K_L:
      *out = Format::kQ3_K;
      return true;
    default:
      return false;
  }
}

std::string ShapeString(const GgufTensorInfo& t) {
  std::string s = "[";
  for (uint32_t d = 0; d < t.n_dims; ++d) absl::StrAppend(&s, d ? ", " : "", t.ne[d]);
  return s + "]";
}

// Reads the llama hyperparameters of one file.
class ConfigReader {
 public:
  explicit ConfigReader(const GgufFile& file) : f_(file) {}

  // A count: a positive integer scalar below 2^31. With `n_layers` > 0 a
  // per-layer array (as llama.cpp allows) is accepted when all its entries agree.
  absl::StatusOr<int64_t> Count(const char* key, int64_t n_layers = 0) const {
    const GgufValue* v = f_.Find(key);
    if (v == nullptr) {
      return absl::NotFoundError(absl::StrFormat("required key '%s' is missing", key));
    }
    int64_t value = 0;
    if (v->type == GgufType::kArray && n_layers > 0) {
      absl::StatusOr<std::vector<int64_t>> values = f_.GetIntegerArray(key);
      if (!values.ok()) return values.status();
      if (static_cast<int64_t>(values->size()) != n_layers) {
        return absl::InvalidArgumentError(
            absl::StrFormat("key '%s' has %d per-layer entries but the model has %d layers", key,
                            values->size(), n_layers));
      }
      value = (*values)[0];
      for (int64_t x : *values) {
        if (x != value) {
          return absl::UnimplementedError(absl::StrFormat(
              "key '%s' varies between layers (%d and %d); aiscore runs models whose layers all "
              "have the same shape",
              key, value, x));
        }
      }
    } else {
      absl::StatusOr<int64_t> scalar = f_.GetInteger(key);
      if (!scalar.ok()) return scalar.status();
      value = *scalar;
    }
    if (value <= 0 || value > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(
          absl::StrFormat("key '%s' is %d; it must be a positive count below 2^31", key, value));
    }
    return value;
  }

  absl::StatusOr<int64_t> CountOr(const char* key, int64_t fallback, int64_t n_layers = 0) const {
    if (f_.Find(key) == nullptr) return fallback;
    return Count(key, n_layers);
  }

  absl::StatusOr<double> Float(const char* key) const {
    if (f_.Find(key) == nullptr) {
      return absl::NotFoundError(absl::StrFormat("required key '%s' is missing", key));
    }
    return f_.GetFloat(key);
  }

  absl::StatusOr<double> FloatOr(const char* key, double fallback) const {
    if (f_.Find(key) == nullptr) return fallback;
    return f_.GetFloat(key);
  }

 private:
  const GgufFile& f_;
};

// Refuses metadata that would make llama.cpp compute something other than
// what aiscore's forward pass computes.
absl::Status CheckUnsupportedFeatures(const GgufFile& f, const ConfigReader& r,
                                      const ModelConfig& c) {
  absl::StatusOr<int64_t> experts = int64_t{0};
  if (f.Find(kExpertCount) != nullptr) experts = f.GetInteger(kExpertCount);
  if (!experts.ok()) return experts.status();
  if (*experts > 0) {
    return absl::UnimplementedError(absl::StrFormat(
        "%s is %d: mixture-of-experts llama models are not supported", kExpertCount, *experts));
  }
  const int64_t head_dim = c.head_dim();
  for (const char* key : {kKeyLength, kValueLength, kRopeDimensionCount}) {
    absl::StatusOr<int64_t> n = r.CountOr(key, head_dim);
    if (!n.ok()) return n.status();
    if (*n != head_dim) {
      return absl::UnimplementedError(absl::StrFormat(
          "%s is %d but embedding_length / head_count is %d; aiscore supports only heads of "
          "width embedding_length / head_count with rotary embeddings over the whole head",
          key, *n, head_dim));
    }
  }
  std::string scaling_type = "none";
  if (f.Find(kRopeScalingType) != nullptr) {
    absl::StatusOr<std::string_view> t = f.GetString(kRopeScalingType);
    if (!t.ok()) return t.status();
    scaling_type = std::string(*t);
  }
  for (const char* key : {kRopeScalingFactor, kRopeScaleLinear}) {
    absl::StatusOr<double> factor = r.FloatOr(key, 0.0);
    if (!factor.ok()) return factor.status();
    // llama.cpp reads a factor of 0 as "no scaling".
    if (*factor != 0.0 && *factor != 1.0) {
      return absl::UnimplementedError(absl::StrFormat(
          "rope scaling is present (%s = %g, %s = '%s'), which would change results: aiscore "
          "runs unscaled rotary embeddings",
          key, *factor, kRopeScalingType, scaling_type));
    }
  }
  absl::StatusOr<double> attn_factor = r.FloatOr(kRopeScalingAttnFactor, 1.0);
  if (!attn_factor.ok()) return attn_factor.status();
  if (*attn_factor != 1.0) {
    return absl::UnimplementedError(absl::StrFormat(
        "rope scaling is present (%s = %g), which would change results: aiscore runs unscaled "
        "rotary embeddings",
        kRopeScalingAttnFactor, *attn_factor));
  }
  return absl::OkStatus();
}

absl::StatusOr<ModelConfig> ReadConfig(const GgufFile& f, const std::string& path) {
  const ConfigReader r(f);
  ModelConfig c;
  if (f.Find(kName) != nullptr) {
    absl::StatusOr<std::string_view> name = f.GetString(kName);
    if (!name.ok()) return name.status();
    c.name = std::string(*name);
  }
  if (c.name.empty()) {
    std::string_view base = path;
    if (size_t slash = base.rfind('/'); slash != std::string_view::npos)
      base.remove_prefix(slash + 1);
    if (absl::EndsWith(std::string(base), ".gguf")) base.remove_suffix(5);
    c.name = std::string(base);
  }
  absl::StatusOr<int64_t> v = r.Count(kBlockCount);
  if (!v.ok()) return v.status();
  c.n_layers = *v;
  if (v = r.Count(kEmbeddingLength); !v.ok()) return v.status();
  c.d_model = *v;
  if (v = r.Count(kFeedForwardLength, c.n_layers); !v.ok()) return v.status();
  c.d_ff = *v;
  if (v = r.Count(kHeadCount, c.n_layers); !v.ok()) return v.status();
  c.n_heads = *v;
  if (v = r.CountOr(kHeadCountKv, c.n_heads, c.n_layers); !v.ok()) return v.status();
  c.n_kv_heads = *v;
  if (v = r.Count(kContextLength); !v.ok()) return v.status();
  c.max_context = *v;
  if (f.Find(kVocabSize) != nullptr) {
    if (v = r.Count(kVocabSize); !v.ok()) return v.status();
    c.vocab_size = *v;
  } else if (const GgufTensorInfo* embd = f.FindTensor("token_embd.weight"); embd != nullptr) {
    c.vocab_size = embd->ne[1];
  } else {
    return absl::NotFoundError(absl::StrFormat(
        "the vocabulary size is unknown: key '%s' and tensor 'token_embd.weight' are both missing",
        kVocabSize));
  }
  absl::StatusOr<double> x = r.FloatOr(kRopeFreqBase, 10000.0);
  if (!x.ok()) return x.status();
  c.rope_theta = static_cast<float>(*x);
  if (x = r.Float(kRmsEpsilon); !x.ok()) return x.status();
  c.norm_eps = static_cast<float>(*x);
  if (absl::Status s = c.Validate(); !s.ok()) return s;
  if (absl::Status s = CheckUnsupportedFeatures(f, r, c); !s.ok()) return s;
  return c;
}

// True when every value of an F32 tensor is 1.0: rotary frequency factors
// that change nothing.
bool AllOnesF32(const GgufTensorInfo& t) {
  if (t.ggml_type != Traits(Format::kF32).ggml_type) return false;
  for (uint64_t i = 0; i < t.bytes / sizeof(float); ++i) {
    float x;
    std::memcpy(&x, t.data + i * sizeof(float), sizeof(float));
    if (x != 1.0f) return false;
  }
  return true;
}

// Why a tensor that is not one of the model's may not be ignored; OK for the
// ones that are ignored (rotary frequency factors that are all 1).
absl::Status CheckExtraTensor(const GgufTensorInfo& t) {
  const std::string& n = t.name;
  const std::string what = absl::StrFormat("tensor '%s' (%s, shape %s)", absl::CHexEscape(n),
                                           GgmlTypeName(t.ggml_type), ShapeString(t));
  if (absl::StrContains(n, "rope_freqs") || absl::StrContains(n, "rope_factors")) {
    if (absl::StrContains(n, "rope_freqs") && AllOnesF32(t)) return absl::OkStatus();
    return absl::UnimplementedError(absl::StrFormat(
        "%s holds rotary frequency factors (rope scaling, as in Llama 3.1), which would change "
        "results: aiscore runs unscaled rotary embeddings",
        what));
  }
  if (absl::EndsWith(n, ".bias")) {
    return absl::UnimplementedError(
        absl::StrFormat("%s is a bias, which aiscore's llama forward pass does not add", what));
  }
  if (absl::StrContains(n, "_exps") || absl::StrContains(n, "ffn_gate_inp")) {
    return absl::UnimplementedError(
        absl::StrFormat("%s belongs to a mixture-of-experts layer, which is not supported", what));
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "unexpected %s: it is not part of a llama model (llama.cpp would refuse the file too)",
      what));
}

}  // namespace

uint32_t GgufFileType(Format format) {
  switch (format) {
    case Format::kF32:
      return kFtypeAllF32;
    case Format::kF16:
      return kFtypeMostlyF16;
    case Format::kQ8_0:
      return kFtypeMostlyQ8_0;
    case Format::kQ4_K:
      return kFtypeMostlyQ4_K_M;
    case Format::kQ2_K:
      return kFtypeMostlyQ2_K;
    case Format::kQ6_K:
      return kFtypeMostlyQ6_K;
    case Format::kQ3_K:
      return kFtypeMostlyQ3_K_M;
  }
  return kFtypeAllF32;
}

absl::StatusOr<ModelWeights> LoadGgufModel(const std::string& path) {
  absl::StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(path);
  if (!opened.ok()) return opened.status();
  const std::shared_ptr<const GgufFile> file = std::move(*opened);
  const GgufFile& f = *file;

  if (f.Find(kArchitecture) == nullptr) {
    return absl::NotFoundError(
        absl::StrFormat("%s: required key '%s' is missing", path, kArchitecture));
  }
  absl::StatusOr<std::string_view> arch = f.GetString(kArchitecture);
  if (!arch.ok()) return WithPrefix(arch.status(), path);
  if (*arch != "llama") {
    return absl::UnimplementedError(
        absl::StrFormat("%s: the model's architecture is '%s'; aiscore loads only 'llama' models",
                        path, absl::CHexEscape(std::string(*arch))));
  }
  absl::StatusOr<ModelConfig> config = ReadConfig(f, path);
  if (!config.ok()) return WithPrefix(config.status(), path);

  // Names and shapes; formats and data come from the file.
  absl::StatusOr<ModelWeights> described = DescribeWeights(*config, Format::kF32);
  if (!described.ok()) return WithPrefix(described.status(), path);
  ModelWeights w = *std::move(described);
  std::set<const WeightTensor*> norms = {&w.output_norm};
  for (const LayerWeights& l : w.layers) {
    norms.insert(&l.attn_norm);
    norms.insert(&l.ffn_norm);
  }
  std::set<std::string_view> used;
  bool tied = false;
  std::map<Format, int> matrix_formats;
  for (WeightTensor* t : w.MutableTensors()) {
    const GgufTensorInfo* info = f.FindTensor(t->name);
    if (info == nullptr && t == &w.output) {
      // Tied embeddings: the output head is token_embd (llama.cpp does the same).
      w.output = w.token_embd;
      tied = true;
      continue;
    }
    if (info == nullptr) {
      return absl::NotFoundError(
          absl::StrFormat("%s: required tensor '%s' is missing", path, t->name));
    }
    used.insert(info->name);
    const bool is_norm = norms.count(t) > 0;
    if (info->ne[0] != t->cols || info->ne[1] != t->rows || info->ne[2] != 1 || info->ne[3] != 1) {
      const std::string want = is_norm ? absl::StrFormat("[%d]", t->cols)
                                       : absl::StrFormat("[%d, %d]", t->cols, t->rows);
      return absl::InvalidArgumentError(
          absl::StrFormat("%s: tensor '%s' has shape %s (ne) but the metadata (%s) implies %s",
                          path, t->name, ShapeString(*info), config->name, want));
    }
    absl::StatusOr<Format> format = FormatFromGgmlType(info->ggml_type);
    if (!format.ok()) {
      return absl::UnimplementedError(absl::StrFormat(
          "%s: tensor '%s' has type %s, which aiscore does not compute with (supported: F32, "
          "F16, Q8_0, Q4_K, Q2_K, Q6_K, Q3_K)",
          path, t->name, GgmlTypeName(info->ggml_type)));
    }
    if (is_norm && *format != Format::kF32) {
      return absl::UnimplementedError(
          absl::StrFormat("%s: norm tensor '%s' has type %s; aiscore expects F32 norms", path,
                          t->name, GgmlTypeName(info->ggml_type)));
    }
    t->format = *format;
    t->data = info->data;
    if (!is_norm) ++matrix_formats[*format];
  }
  for (const GgufTensorInfo& t : f.tensors()) {
    if (used.count(t.name) > 0) continue;
    if (absl::Status s = CheckExtraTensor(t); !s.ok()) return WithPrefix(s, path);
  }
  if (tied) ++matrix_formats[w.token_embd.format];

  // The "mostly" format: general.file_type when it names a format the matrices
  // use, else the most common matrix format.
  Format mostly = w.token_embd.format;
  int best = 0;
  for (const auto& [format, count] : matrix_formats) {
    if (count > best) {
      mostly = format;
      best = count;
    }
  }
  if (f.Find(kFileType) != nullptr) {
    absl::StatusOr<int64_t> ftype = f.GetInteger(kFileType);
    if (!ftype.ok()) return WithPrefix(ftype.status(), path);
    Format named;
    if (FormatFromFileType(*ftype, &named) && matrix_formats.count(named) > 0) mostly = named;
  }
  w.format = mostly;
  w.storage = std::shared_ptr<const void>(file, f.mapping());
  w.file_mapped = true;
  if (absl::Status s = CheckWeights(w); !s.ok()) return WithPrefix(s, path);
  return w;
}

namespace {

// Serializes GGUF header fields (little-endian, as the host is).
class HeaderWriter {
 public:
  void U32(uint32_t v) { Raw(&v, sizeof(v)); }
  void U64(uint64_t v) { Raw(&v, sizeof(v)); }
  void I64(int64_t v) { Raw(&v, sizeof(v)); }
  void F32(float v) { Raw(&v, sizeof(v)); }
  void String(std::string_view s) {
    U64(s.size());
    out_.append(s.data(), s.size());
  }
  void KeyU32(std::string_view key, uint32_t v) {
    Key(key, GgufType::kUint32);
    U32(v);
  }
  void KeyF32(std::string_view key, float v) {
    Key(key, GgufType::kFloat32);
    F32(v);
  }
  void KeyString(std::string_view key, std::string_view v) {
    Key(key, GgufType::kString);
    String(v);
  }
  void PadTo(uint64_t alignment) { out_.resize(AlignUp<uint64_t>(out_.size(), alignment), '\0'); }
  const std::string& bytes() const { return out_; }

 private:
  void Key(std::string_view key, GgufType type) {
    String(key);
    U32(static_cast<uint32_t>(type));
  }
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  std::string out_;
};

absl::Status WriteErrno(int err, const std::string& what) {
  const std::string text = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG:
      return absl::ResourceExhaustedError(text);
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(text);
    case EACCES:
    case EPERM:
    case EROFS:
      return absl::PermissionDeniedError(text);
    default:
      return absl::UnknownError(text);
  }
}

// A file being written under a temporary name; removed unless Commit() renames it.
class TempFile {
 public:
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!tmp_path_.empty()) ::unlink(tmp_path_.c_str());
  }

  absl::Status Create(const std::string& final_path) {
    final_path_ = final_path;
    std::string templ = final_path + ".tmp-XXXXXX";
    fd_ = ::mkstemp(templ.data());
    if (fd_ < 0)
      return WriteErrno(errno, absl::StrCat("cannot create a file next to ", final_path));
    tmp_path_ = templ;
    if (::fchmod(fd_, 0644) != 0)
      return WriteErrno(errno, absl::StrCat("cannot chmod ", tmp_path_));
    return absl::OkStatus();
  }

  absl::Status Write(const void* data, size_t n) {
    const char* p = static_cast<const char*>(data);
    while (n > 0) {
      const size_t chunk = std::min<size_t>(n, size_t{1} << 30);
      const ssize_t written = ::write(fd_, p, chunk);
      if (written < 0) {
        if (errno == EINTR) continue;
        return WriteErrno(errno, absl::StrCat("cannot write ", tmp_path_));
      }
      if (written == 0) return WriteErrno(ENOSPC, absl::StrCat("cannot write ", tmp_path_));
      p += written;
      n -= static_cast<size_t>(written);
    }
    return absl::OkStatus();
  }

  absl::Status Zeros(size_t n) {
    static const char kZeros[kWriteAlignment] = {};
    return Write(kZeros, n);
  }

  absl::Status Commit() {
    if (::fsync(fd_) != 0) return WriteErrno(errno, absl::StrCat("cannot flush ", tmp_path_));
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) return WriteErrno(errno, absl::StrCat("cannot close ", tmp_path_));
    if (::rename(tmp_path_.c_str(), final_path_.c_str()) != 0) {
      return WriteErrno(errno, absl::StrCat("cannot rename ", tmp_path_, " to ", final_path_));
    }
    tmp_path_.clear();
    return absl::OkStatus();
  }

 private:
  std::string final_path_;
  std::string tmp_path_;
  int fd_ = -1;
};

}  // namespace

absl::Status WriteGgufModel(const ModelWeights& w, const std::string& path) {
  if (absl::Status s = CheckWeights(w); !s.ok()) {
    return WithPrefix(s, absl::StrCat("cannot write ", path));
  }
  const ModelConfig& c = w.config;
  const bool tied = w.output.data == w.token_embd.data && w.output.format == w.token_embd.format;
  std::vector<const WeightTensor*> tensors;
  for (const WeightTensor* t : w.Tensors()) {
    if (tied && t == &w.output) continue;
    tensors.push_back(t);
  }

  HeaderWriter h;
  h.U32(kGgufMagic);
  h.U32(kGgufVersion);
  h.U64(tensors.size());
  constexpr uint64_t kKeyCount = 15;
  h.U64(kKeyCount);
  h.KeyString(kArchitecture, "llama");
  h.KeyString(kName, c.name);
  h.KeyU32(kFileType, GgufFileType(w.format));
  h.KeyU32(kAlignment, kWriteAlignment);
  // ModelConfig::Validate bounds every count far below 2^32.
  h.KeyU32(kContextLength, static_cast<uint32_t>(c.max_context));
  h.KeyU32(kEmbeddingLength, static_cast<uint32_t>(c.d_model));
  h.KeyU32(kBlockCount, static_cast<uint32_t>(c.n_layers));
  h.KeyU32(kFeedForwardLength, static_cast<uint32_t>(c.d_ff));
  h.KeyU32(kHeadCount, static_cast<uint32_t>(c.n_heads));
  h.KeyU32(kHeadCountKv, static_cast<uint32_t>(c.n_kv_heads));
  h.KeyF32(kRopeFreqBase, c.rope_theta);
  h.KeyU32(kRopeDimensionCount, static_cast<uint32_t>(c.head_dim()));
  h.KeyF32(kRmsEpsilon, c.norm_eps);
  h.KeyU32(kVocabSize, static_cast<uint32_t>(c.vocab_size));
  // No tokenizer: llama.cpp treats "none" as a vocabulary of llama.vocab_size
  // dummy tokens (src/llama-vocab.cpp), which is all a benchmark needs.
  h.KeyString(kTokenizerModel, "none");

  uint64_t offset = 0;
  for (const WeightTensor* t : tensors) {
    h.String(t->name);
    if (t->rows == 1) {
      h.U32(1);
      h.I64(t->cols);
    } else {
      h.U32(2);
      h.I64(t->cols);
      h.I64(t->rows);
    }
    h.U32(Traits(t->format).ggml_type);
    h.U64(offset);
    offset += AlignUp<uint64_t>(t->bytes(), kWriteAlignment);
  }
  h.PadTo(kWriteAlignment);

  TempFile file;
  if (absl::Status s = file.Create(path); !s.ok()) return s;
  if (absl::Status s = file.Write(h.bytes().data(), h.bytes().size()); !s.ok()) return s;
  for (const WeightTensor* t : tensors) {
    const size_t n = t->bytes();
    if (absl::Status s = file.Write(t->data, n); !s.ok()) return s;
    if (absl::Status s = file.Zeros(AlignUp<uint64_t>(n, kWriteAlignment) - n); !s.ok()) return s;
  }
  return file.Commit();
}

}  // namespace aiscore
