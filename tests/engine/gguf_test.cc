#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "agent/engine/gguf_file.h"
#include "agent/engine/gguf_model.h"
#include "agent/engine/model_config.h"
#include "agent/engine/model_weights.h"
#include "agent/quant/format.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

// ---------------------------------------------------------------------------
// Helpers

// Passes when `s` has `code` and its message contains every needle.
::testing::AssertionResult IsError(const absl::Status& s, absl::StatusCode code,
                                   std::initializer_list<std::string_view> needles) {
  if (s.ok()) return ::testing::AssertionFailure() << "expected an error, got OK";
  if (s.code() != code) {
    return ::testing::AssertionFailure()
           << "expected code " << absl::StatusCodeToString(code) << ", got " << s.ToString();
  }
  const std::string message(s.message());
  for (std::string_view needle : needles) {
    if (message.find(needle) == std::string::npos) {
      return ::testing::AssertionFailure()
             << "message '" << message << "' does not mention '" << needle << "'";
    }
  }
  return ::testing::AssertionSuccess();
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteBytes(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

template <typename T>
std::string Enc(T v) {
  std::string s(sizeof(T), '\0');
  std::memcpy(s.data(), &v, sizeof(T));
  return s;
}
std::string EncStr(std::string_view s) { return Enc<uint64_t>(s.size()) + std::string(s); }

template <typename T>
void Put(std::string& bytes, size_t at, T v) {
  std::memcpy(bytes.data() + at, &v, sizeof(T));
}

// A model whose tensors hold the reference quantization of seeded random
// floats (norms near 1). `formats`, when given, overrides each tensor's format
// in Tensors() order.
ModelWeights MakeModel(const ModelConfig& config, Format format, uint32_t seed,
                       const std::vector<Format>& formats = {}) {
  absl::StatusOr<ModelWeights> described = DescribeWeights(config, format);
  EXPECT_TRUE(described.ok()) << described.status();
  ModelWeights w = *described;
  std::vector<WeightTensor*> tensors = w.MutableTensors();
  if (!formats.empty()) {
    EXPECT_EQ(formats.size(), tensors.size());
    for (size_t i = 0; i < tensors.size(); ++i) tensors[i]->format = formats[i];
  }
  size_t total = 0;
  for (const WeightTensor* t : tensors) total += (t->bytes() + 63) / 64 * 64;
  auto storage = std::shared_ptr<unsigned char[]>(new unsigned char[total]());
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  size_t offset = 0;
  for (WeightTensor* t : tensors) {
    unsigned char* base = storage.get() + offset;
    std::vector<float> row(t->cols);
    const bool norm = t->rows == 1;
    for (int64_t r = 0; r < t->rows; ++r) {
      for (float& x : row) x = norm ? 1.0f + dist(rng) : dist(rng);
      Traits(t->format).quantize(row.data(), base + r * t->row_bytes(), t->cols);
    }
    t->data = base;
    offset += (t->bytes() + 63) / 64 * 64;
  }
  w.storage = std::shared_ptr<const void>(storage, storage.get());
  EXPECT_TRUE(CheckWeights(w).ok()) << CheckWeights(w);
  return w;
}

ModelConfig Tiny() { return *ModelPreset("tiny"); }

// Smaller than "tiny" (about 12 KB as Q8_0), for loops that write many files.
ModelConfig Micro() {
  ModelConfig c;
  c.name = "micro";
  c.vocab_size = 32;
  c.d_model = 32;
  c.n_layers = 1;
  c.n_heads = 2;
  c.n_kv_heads = 1;
  c.d_ff = 64;
  c.max_context = 128;
  return c;
}

void ExpectSameConfig(const ModelConfig& a, const ModelConfig& b) {
  EXPECT_EQ(a.name, b.name);
  EXPECT_EQ(a.vocab_size, b.vocab_size);
  EXPECT_EQ(a.d_model, b.d_model);
  EXPECT_EQ(a.n_layers, b.n_layers);
  EXPECT_EQ(a.n_heads, b.n_heads);
  EXPECT_EQ(a.n_kv_heads, b.n_kv_heads);
  EXPECT_EQ(a.d_ff, b.d_ff);
  EXPECT_EQ(a.rope_theta, b.rope_theta);
  EXPECT_EQ(a.norm_eps, b.norm_eps);
  EXPECT_EQ(a.max_context, b.max_context);
}

void ExpectSameTensors(const ModelWeights& a, const ModelWeights& b) {
  const std::vector<const WeightTensor*> ta = a.Tensors();
  const std::vector<const WeightTensor*> tb = b.Tensors();
  ASSERT_EQ(ta.size(), tb.size());
  for (size_t i = 0; i < ta.size(); ++i) {
    SCOPED_TRACE(ta[i]->name);
    EXPECT_EQ(ta[i]->format, tb[i]->format);
    EXPECT_EQ(ta[i]->rows, tb[i]->rows);
    EXPECT_EQ(ta[i]->cols, tb[i]->cols);
    ASSERT_EQ(ta[i]->bytes(), tb[i]->bytes());
    EXPECT_EQ(std::memcmp(ta[i]->data, tb[i]->data, ta[i]->bytes()), 0) << "bytes differ";
  }
}

// Builds GGUF bytes field by field, for files the writer would never produce.
struct GgufBuilder {
  struct Kv {
    std::string key;
    uint32_t type;
    std::string payload;  // the encoded value after the type
  };
  struct Tensor {
    std::string name;
    std::vector<int64_t> ne;
    uint32_t type;
    std::string data;
    std::optional<uint64_t> offset;  // default: packed after the previous tensor
  };

  uint32_t version = 3;
  std::optional<uint64_t> n_tensors, n_kv;  // override the counts in the header
  uint64_t alignment = 32;
  std::vector<Kv> kvs;
  std::vector<Tensor> tensors;

  void Set(const std::string& key, uint32_t type, std::string payload) {
    for (Kv& kv : kvs) {
      if (kv.key == key) {
        kv.type = type;
        kv.payload = std::move(payload);
        return;
      }
    }
    kvs.push_back({key, type, std::move(payload)});
  }
  void SetU32(const std::string& key, uint32_t v) { Set(key, 4, Enc(v)); }
  void SetF32(const std::string& key, float v) { Set(key, 6, Enc(v)); }
  void SetString(const std::string& key, std::string_view v) { Set(key, 8, EncStr(v)); }
  void Remove(const std::string& key) {
    std::erase_if(kvs, [&](const Kv& kv) { return kv.key == key; });
  }
  Tensor* FindTensor(const std::string& name) {
    for (Tensor& t : tensors) {
      if (t.name == name) return &t;
    }
    ADD_FAILURE() << "no tensor " << name;
    return nullptr;
  }
  void RemoveTensor(const std::string& name) {
    std::erase_if(tensors, [&](const Tensor& t) { return t.name == name; });
  }

  std::string Build() const {
    std::string out = Enc<uint32_t>(kGgufMagic) + Enc<uint32_t>(version) +
                      Enc<uint64_t>(n_tensors.value_or(tensors.size())) +
                      Enc<uint64_t>(n_kv.value_or(kvs.size()));
    for (const Kv& kv : kvs) out += EncStr(kv.key) + Enc<uint32_t>(kv.type) + kv.payload;
    std::vector<uint64_t> offsets;
    uint64_t running = 0;
    for (const Tensor& t : tensors) {
      const uint64_t offset = t.offset.value_or(running);
      offsets.push_back(offset);
      running = (offset + t.data.size() + alignment - 1) / alignment * alignment;
      out += EncStr(t.name) + Enc<uint32_t>(t.ne.size());
      for (int64_t n : t.ne) out += Enc<int64_t>(n);
      out += Enc<uint32_t>(t.type) + Enc<uint64_t>(offset);
    }
    const uint64_t data_start = (out.size() + alignment - 1) / alignment * alignment;
    out.resize(data_start, '\0');
    for (size_t i = 0; i < tensors.size(); ++i) {
      const std::string& data = tensors[i].data;
      if (data.empty()) continue;
      const uint64_t end = data_start + offsets[i] + data.size();
      if (out.size() < end) out.resize(end, '\0');
      std::memcpy(out.data() + data_start + offsets[i], data.data(), data.size());
    }
    out.resize((out.size() + alignment - 1) / alignment * alignment, '\0');
    return out;
  }

  // The file WriteGgufModel writes for `w` (untied), built independently.
  static GgufBuilder FromModel(const ModelWeights& w) {
    const ModelConfig& c = w.config;
    GgufBuilder b;
    b.SetString("general.architecture", "llama");
    b.SetString("general.name", c.name);
    b.SetU32("general.file_type", GgufFileType(w.format));
    b.SetU32("general.alignment", 32);
    b.SetU32("llama.context_length", c.max_context);
    b.SetU32("llama.embedding_length", c.d_model);
    b.SetU32("llama.block_count", c.n_layers);
    b.SetU32("llama.feed_forward_length", c.d_ff);
    b.SetU32("llama.attention.head_count", c.n_heads);
    b.SetU32("llama.attention.head_count_kv", c.n_kv_heads);
    b.SetF32("llama.rope.freq_base", c.rope_theta);
    b.SetU32("llama.rope.dimension_count", c.head_dim());
    b.SetF32("llama.attention.layer_norm_rms_epsilon", c.norm_eps);
    b.SetU32("llama.vocab_size", c.vocab_size);
    b.SetString("tokenizer.ggml.model", "none");
    for (const WeightTensor* t : w.Tensors()) {
      Tensor bt;
      bt.name = t->name;
      bt.ne = t->rows == 1 ? std::vector<int64_t>{t->cols} : std::vector<int64_t>{t->cols, t->rows};
      bt.type = Traits(t->format).ggml_type;
      bt.data.assign(static_cast<const char*>(t->data), t->bytes());
      b.tensors.push_back(std::move(bt));
    }
    return b;
  }
};

class GgufTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::path(::testing::TempDir()) / "gguf_test_XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string Path(std::string_view name) const { return (fs::path(dir_) / name).string(); }

  // Writes `bytes` to a file and opens it with GgufFile.
  absl::Status OpenBytes(std::string_view bytes, std::string_view name = "x.gguf") {
    const std::string path = Path(name);
    WriteBytes(path, bytes);
    return GgufFile::Open(path).status();
  }
  absl::Status LoadBytes(std::string_view bytes, std::string_view name = "x.gguf") {
    const std::string path = Path(name);
    WriteBytes(path, bytes);
    return LoadGgufModel(path).status();
  }
  // A valid tiny Q8_0 model as GgufBuilder fields.
  GgufBuilder TinyBuilder() { return GgufBuilder::FromModel(MakeModel(Tiny(), Format::kQ8_0, 7)); }

  std::string dir_;
};

// ---------------------------------------------------------------------------
// Round trips

class GgufRoundTripTest : public GgufTest, public ::testing::WithParamInterface<Format> {};

TEST_P(GgufRoundTripTest, ConfigAndEveryTensorByteIdentical) {
  const Format format = GetParam();
  const ModelWeights written = MakeModel(Tiny(), format, 42);
  const std::string path = Path("tiny.gguf");
  ASSERT_TRUE(WriteGgufModel(written, path).ok()) << WriteGgufModel(written, path);

  absl::StatusOr<ModelWeights> read = LoadGgufModel(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameConfig(read->config, written.config);
  EXPECT_EQ(read->format, format);
  ExpectSameTensors(*read, written);
  EXPECT_NE(read->output.data, read->token_embd.data);
  // The bytes live in the mapping, which the weights keep alive.
  absl::StatusOr<ModelWeights> copy = *read;
  read = absl::UnknownError("dropped");
  ExpectSameTensors(*copy, written);
}

TEST_P(GgufRoundTripTest, WriterMatchesIndependentBuilder) {
  const ModelWeights w = MakeModel(Tiny(), GetParam(), 5);
  const std::string path = Path("w.gguf");
  ASSERT_TRUE(WriteGgufModel(w, path).ok());
  EXPECT_EQ(ReadBytes(path), GgufBuilder::FromModel(w).Build());
}

INSTANTIATE_TEST_SUITE_P(Basket, GgufRoundTripTest,
                         ::testing::Values(Format::kF16, Format::kQ8_0, Format::kQ4_K,
                                           Format::kQ2_K, Format::kQ6_K, Format::kQ3_K),
                         [](const auto& info) { return std::string(FormatName(info.param)); });

TEST_F(GgufTest, MixedFormatsKeepPerTensorFormats) {
  const ModelConfig c = Tiny();
  const ModelWeights shape = *DescribeWeights(c, Format::kQ4_K);
  std::vector<Format> formats;
  for (const WeightTensor* t : shape.Tensors()) {
    if (t->rows == 1) {
      formats.push_back(Format::kF32);
    } else if (t->name == "token_embd.weight") {
      formats.push_back(Format::kQ8_0);
    } else if (t->name == "output.weight" || t->name == "blk.1.ffn_down.weight") {
      formats.push_back(Format::kF16);
    } else if (t->name == "blk.0.ffn_down.weight" || t->name == "blk.1.attn_v.weight") {
      formats.push_back(Format::kQ6_K);  // as llama.cpp's Q4_K_M does
    } else if (t->name == "blk.0.attn_q.weight") {
      formats.push_back(Format::kQ3_K);
    } else {
      formats.push_back(Format::kQ4_K);
    }
  }
  const ModelWeights w = MakeModel(c, Format::kQ4_K, 3, formats);
  ASSERT_TRUE(WriteGgufModel(w, Path("mixed.gguf")).ok());
  absl::StatusOr<ModelWeights> read = LoadGgufModel(Path("mixed.gguf"));
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->format, Format::kQ4_K);
  EXPECT_EQ(read->token_embd.format, Format::kQ8_0);
  EXPECT_EQ(read->layers[1].w_down.format, Format::kF16);
  EXPECT_EQ(read->layers[0].w_down.format, Format::kQ6_K);
  EXPECT_EQ(read->layers[0].wq.format, Format::kQ3_K);
  ExpectSameTensors(*read, w);
}

TEST_F(GgufTest, MostlyFormatIsTheMostCommonWithoutFileType) {
  GgufBuilder b = TinyBuilder();
  b.Remove("general.file_type");
  ASSERT_TRUE(LoadBytes(b.Build()).ok());
  absl::StatusOr<ModelWeights> w = LoadGgufModel(Path("x.gguf"));
  EXPECT_EQ(w->format, Format::kQ8_0);
}

TEST_F(GgufTest, TiedEmbeddingsWrittenOnceAndReadBack) {
  ModelWeights w = MakeModel(Tiny(), Format::kQ8_0, 9);
  w.output = w.token_embd;
  w.output.name = "output.weight";
  const std::string path = Path("tied.gguf");
  ASSERT_TRUE(WriteGgufModel(w, path).ok());
  absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(path);
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ((*file)->FindTensor("output.weight"), nullptr);
  EXPECT_EQ((*file)->tensors().size(), 2u + 9u * Tiny().n_layers);

  absl::StatusOr<ModelWeights> read = LoadGgufModel(path);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->output.data, read->token_embd.data);
  ExpectSameTensors(*read, w);
}

TEST_F(GgufTest, WrittenMetadataIsWhatLlamaCppReads) {
  const ModelWeights w = MakeModel(Tiny(), Format::kQ4_K, 1);
  const std::string path = Path("meta.gguf");
  ASSERT_TRUE(WriteGgufModel(w, path).ok());
  absl::StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  const GgufFile& f = **opened;
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(*f.GetString("general.architecture"), "llama");
  EXPECT_EQ(*f.GetString("general.name"), "tiny");
  EXPECT_EQ(*f.GetU32("general.file_type"), 15u);  // LLAMA_FTYPE_MOSTLY_Q4_K_M
  EXPECT_EQ(*f.GetU32("general.alignment"), 32u);
  EXPECT_EQ(*f.GetU32("llama.embedding_length"), 256u);
  EXPECT_EQ(*f.GetU32("llama.rope.dimension_count"), 64u);
  EXPECT_EQ(*f.GetU32("llama.vocab_size"), 512u);
  EXPECT_EQ(*f.GetF32("llama.rope.freq_base"), 10000.0f);
  EXPECT_EQ(*f.GetString("tokenizer.ggml.model"), "none");
  EXPECT_EQ(f.data_offset() % 32, 0u);
  const GgufTensorInfo* q = f.FindTensor("blk.0.attn_k.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->n_dims, 2u);
  EXPECT_EQ(q->ne[0], 256);  // cols: the dimension dot products run over
  EXPECT_EQ(q->ne[1], 64);   // rows: n_kv_heads * head_dim
  EXPECT_EQ(q->ggml_type, 12u);
  const GgufTensorInfo* norm = f.FindTensor("blk.1.ffn_norm.weight");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->n_dims, 1u);
  EXPECT_EQ(norm->ggml_type, 0u);
  for (const GgufTensorInfo& t : f.tensors()) EXPECT_EQ(t.offset % 32, 0u) << t.name;
  EXPECT_EQ(GgufFileType(Format::kF32), 0u);
  EXPECT_EQ(GgufFileType(Format::kF16), 1u);
  EXPECT_EQ(GgufFileType(Format::kQ8_0), 7u);
  EXPECT_EQ(GgufFileType(Format::kQ2_K), 10u);
  EXPECT_EQ(GgufFileType(Format::kQ6_K), 18u);
  EXPECT_EQ(GgufFileType(Format::kQ3_K), 12u);  // MOSTLY_Q3_K_M
}

TEST_F(GgufTest, Version2IsRead) {
  std::string bytes = TinyBuilder().Build();
  Put<uint32_t>(bytes, 4, 2);
  EXPECT_TRUE(LoadBytes(bytes).ok()) << LoadBytes(bytes);
}

TEST_F(GgufTest, EveryValueTypeAndNestedArrays) {
  GgufBuilder b;
  b.Set("u8", 0, Enc<uint8_t>(200));
  b.Set("i8", 1, Enc<int8_t>(-100));
  b.Set("u16", 2, Enc<uint16_t>(60000));
  b.Set("i16", 3, Enc<int16_t>(-30000));
  b.Set("u32", 4, Enc<uint32_t>(4000000000u));
  b.Set("i32", 5, Enc<int32_t>(-2000000000));
  b.Set("f32", 6, Enc<float>(1.5f));
  b.Set("bool", 7, Enc<uint8_t>(1));
  b.Set("str", 8, EncStr("hello"));
  b.Set("u64", 10, Enc<uint64_t>(~uint64_t{0}));
  b.Set("i64", 11, Enc<int64_t>(-5));
  b.Set("f64", 12, Enc<double>(2.25));
  b.Set("arr_u16", 9,
        Enc<uint32_t>(2) + Enc<uint64_t>(3) + Enc<uint16_t>(1) + Enc<uint16_t>(2) +
            Enc<uint16_t>(65535));
  b.Set("arr_str", 9,
        Enc<uint32_t>(8) + Enc<uint64_t>(3) + EncStr("a") + EncStr("") + EncStr("ccc"));
  // [[1, 2], [], [[...]] is not allowed to mix; this is [[7, 8], []] of i32.
  b.Set("arr_arr", 9,
        Enc<uint32_t>(9) + Enc<uint64_t>(2) + Enc<uint32_t>(5) + Enc<uint64_t>(2) +
            Enc<int32_t>(7) + Enc<int32_t>(8) + Enc<uint32_t>(5) + Enc<uint64_t>(0));
  b.Set("arr_empty", 9, Enc<uint32_t>(12) + Enc<uint64_t>(0));
  const std::string path = Path("types.gguf");
  WriteBytes(path, b.Build());
  absl::StatusOr<std::unique_ptr<GgufFile>> opened = GgufFile::Open(path);
  ASSERT_TRUE(opened.ok()) << opened.status();
  const GgufFile& f = **opened;
  EXPECT_EQ(f.metadata().size(), 16u);
  EXPECT_EQ(f.metadata()[0].key, "u8");
  EXPECT_EQ(*f.GetInteger("u8"), 200);
  EXPECT_EQ(*f.GetInteger("i8"), -100);
  EXPECT_EQ(*f.GetInteger("u16"), 60000);
  EXPECT_EQ(*f.GetInteger("i16"), -30000);
  EXPECT_EQ(*f.GetU32("u32"), 4000000000u);
  EXPECT_EQ(*f.GetI32("i32"), -2000000000);
  EXPECT_EQ(*f.GetF32("f32"), 1.5f);
  EXPECT_EQ(*f.GetFloat("f32"), 1.5);
  EXPECT_EQ(*f.GetBool("bool"), true);
  EXPECT_EQ(*f.GetString("str"), "hello");
  EXPECT_EQ(*f.GetU64("u64"), ~uint64_t{0});
  EXPECT_TRUE(IsError(f.GetInteger("u64").status(), absl::StatusCode::kInvalidArgument,
                      {"'u64'", "int64"}));
  EXPECT_EQ(*f.GetInteger("i64"), -5);
  EXPECT_EQ(*f.GetFloat("f64"), 2.25);
  EXPECT_EQ(*f.GetIntegerArray("arr_u16"), (std::vector<int64_t>{1, 2, 65535}));
  EXPECT_EQ(*f.GetArrayLength("arr_u16"), 3u);
  EXPECT_EQ(*f.GetStringArrayLength("arr_str"), 3u);
  EXPECT_EQ(*f.GetStringArrayElement("arr_str", 2), "ccc");
  EXPECT_EQ(*f.GetStringArrayElement("arr_str", 1), "");
  EXPECT_TRUE(IsError(f.GetStringArrayElement("arr_str", 3).status(), absl::StatusCode::kOutOfRange,
                      {"'arr_str'", "index 3"}));
  absl::StatusOr<const GgufValue*> nested = f.GetArray("arr_arr");
  ASSERT_TRUE(nested.ok());
  ASSERT_EQ((*nested)->arrays.size(), 2u);
  EXPECT_EQ((*nested)->arrays[0].element_type, GgufType::kInt32);
  EXPECT_EQ((*nested)->arrays[0].length, 2u);
  int32_t second;
  std::memcpy(&second, (*nested)->arrays[0].elements + 4, 4);
  EXPECT_EQ(second, 8);
  EXPECT_EQ((*nested)->arrays[1].length, 0u);
  EXPECT_EQ(*f.GetArrayLength("arr_empty"), 0u);
  // Wrong types and missing keys name the key and the types.
  EXPECT_TRUE(IsError(f.GetU32("f32").status(), absl::StatusCode::kInvalidArgument,
                      {"'f32'", "type f32", "expected u32"}));
  EXPECT_TRUE(IsError(f.GetString("arr_str").status(), absl::StatusCode::kInvalidArgument,
                      {"arr[str]", "expected str"}));
  EXPECT_TRUE(IsError(f.GetStringArrayLength("arr_u16").status(),
                      absl::StatusCode::kInvalidArgument, {"'arr_u16'", "arr[u16]"}));
  EXPECT_TRUE(
      IsError(f.GetU32("nope").status(), absl::StatusCode::kNotFound, {"'nope'", "missing"}));
  EXPECT_TRUE(f.tensors().empty());
}

// ---------------------------------------------------------------------------
// Malformed files: GgufFile

TEST_F(GgufTest, TruncatedAtEveryHeaderByteAndThroughTheData) {
  const ModelWeights w = MakeModel(Tiny(), Format::kQ8_0, 11);
  const std::string path = Path("full.gguf");
  ASSERT_TRUE(WriteGgufModel(w, path).ok());
  const std::string bytes = ReadBytes(path);
  absl::StatusOr<std::unique_ptr<GgufFile>> full = GgufFile::Open(path);
  ASSERT_TRUE(full.ok());
  const GgufTensorInfo& last = (*full)->tensors().back();
  const uint64_t data_end = (*full)->data_offset() + last.offset + last.bytes;
  std::vector<uint64_t> lengths;
  for (uint64_t n = 0; n <= (*full)->data_offset() + 8; ++n) lengths.push_back(n);
  for (uint64_t n = (*full)->data_offset() + 9; n < data_end; n += data_end / 97) {
    lengths.push_back(n);
  }
  lengths.push_back(data_end - 1);
  int failures = 0;
  for (uint64_t n : lengths) {
    const absl::Status s = OpenBytes(std::string_view(bytes).substr(0, n), "cut.gguf");
    SCOPED_TRACE(n);
    ASSERT_FALSE(s.ok());
    ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    const std::string m(s.message());
    ASSERT_TRUE(m.find("truncated") != std::string::npos ||
                m.find("past the end of the file") != std::string::npos)
        << m;
    ASSERT_NE(m.find("cut.gguf"), std::string::npos) << m;
    ++failures;
  }
  EXPECT_GT(failures, 500);
  // The padding after the last tensor is not needed.
  EXPECT_TRUE(OpenBytes(std::string_view(bytes).substr(0, data_end), "cut.gguf").ok());
}

TEST_F(GgufTest, BadMagic) {
  std::string bytes = TinyBuilder().Build();
  std::memcpy(bytes.data(), "GGML", 4);
  EXPECT_TRUE(
      IsError(OpenBytes(bytes), absl::StatusCode::kInvalidArgument, {"not a GGUF file", "'GGML'"}));
}

TEST_F(GgufTest, BadVersion) {
  std::string bytes = TinyBuilder().Build();
  Put<uint32_t>(bytes, 4, 1);
  EXPECT_TRUE(IsError(OpenBytes(bytes), absl::StatusCode::kUnimplemented, {"version 1"}));
  Put<uint32_t>(bytes, 4, 4);
  EXPECT_TRUE(IsError(OpenBytes(bytes), absl::StatusCode::kUnimplemented, {"version 4"}));
  Put<uint32_t>(bytes, 4, 0x03000000);
  EXPECT_TRUE(IsError(OpenBytes(bytes), absl::StatusCode::kUnimplemented, {"big-endian"}));
  Put<uint32_t>(bytes, 4, 0);
  EXPECT_TRUE(IsError(OpenBytes(bytes), absl::StatusCode::kDataLoss, {"version is 0"}));
}

TEST_F(GgufTest, HugeCounts) {
  GgufBuilder b = TinyBuilder();
  b.n_tensors = uint64_t{1} << 60;
  EXPECT_TRUE(
      IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss, {"1152921504606846976 tensors"}));
  b.n_tensors.reset();
  b.n_kv = ~uint64_t{0};
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"18446744073709551615 metadata key/values"}));
  // More entries than the file has: the first missing one is truncated.
  b.n_kv = b.kvs.size() + 1;
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss, {}));
}

TEST_F(GgufTest, StringLengthPastEndOfFile) {
  GgufBuilder b = TinyBuilder();
  b.Set("general.name", 8, Enc<uint64_t>(uint64_t{1} << 63) + "x");
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'general.name'", "9223372036854775808", "past the end of the file"}));
  // A key whose own length is absurd.
  GgufBuilder k = TinyBuilder();
  k.kvs.insert(k.kvs.begin(), {"", 4, ""});
  std::string bytes = k.Build();
  Put<uint64_t>(bytes, 24, uint64_t{1} << 62);
  EXPECT_TRUE(IsError(OpenBytes(bytes), absl::StatusCode::kDataLoss,
                      {"key #0", "past the end of the file"}));
  // A tensor name.
  GgufBuilder t = TinyBuilder();
  t.tensors[0].name = std::string(3, 'x');
  std::string tb = t.Build();
  const size_t at = tb.find("xxx") - 8;
  Put<uint64_t>(tb, at, 1000000000);
  EXPECT_TRUE(IsError(OpenBytes(tb), absl::StatusCode::kDataLoss,
                      {"name of tensor #0", "1000000000", "past the end of the file"}));
}

TEST_F(GgufTest, HugeArrays) {
  GgufBuilder b = TinyBuilder();
  b.Set("big", 9, Enc<uint32_t>(4) + Enc<uint64_t>(uint64_t{1} << 62));
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'big'", "4611686018427387904 u32 elements", "past the end of the file"}));
  b.Set("big", 9, Enc<uint32_t>(8) + Enc<uint64_t>(~uint64_t{0}));
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss, {"'big'", "str"}));
  b.Set("big", 9, Enc<uint32_t>(9) + Enc<uint64_t>(uint64_t{1} << 61));
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss, {"'big'", "arr"}));
}

TEST_F(GgufTest, UnknownValueType) {
  GgufBuilder b = TinyBuilder();
  b.Set("odd", 13, Enc<uint32_t>(0));
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'odd'", "unknown value type 13"}));
  b.Set("odd", 9, Enc<uint32_t>(77) + Enc<uint64_t>(1));
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'odd'", "unknown value type 77"}));
}

TEST_F(GgufTest, ArraysNestedTooDeep) {
  GgufBuilder b = TinyBuilder();
  std::string payload;
  for (int i = 0; i < kGgufMaxArrayDepth + 1; ++i) payload += Enc<uint32_t>(9) + Enc<uint64_t>(1);
  payload += Enc<uint32_t>(4) + Enc<uint64_t>(0);
  b.Set("deep", 9, payload);
  EXPECT_TRUE(
      IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss, {"'deep'", "nested more than"}));
}

TEST_F(GgufTest, DuplicateKey) {
  GgufBuilder b = TinyBuilder();
  b.kvs.push_back({"llama.block_count", 4, Enc<uint32_t>(2)});
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"duplicate metadata key 'llama.block_count'"}));
}

TEST_F(GgufTest, BadAlignment) {
  GgufBuilder b = TinyBuilder();
  b.SetU32("general.alignment", 48);
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"general.alignment", "48", "power of two"}));
  b.Set("general.alignment", 10, Enc<uint64_t>(32));
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"general.alignment", "u64", "expected u32"}));
}

TEST_F(GgufTest, OtherAlignmentIsHonoured) {
  GgufBuilder b = TinyBuilder();
  b.alignment = 256;
  b.SetU32("general.alignment", 256);
  const std::string path = Path("a256.gguf");
  WriteBytes(path, b.Build());
  absl::StatusOr<ModelWeights> w = LoadGgufModel(path);
  ASSERT_TRUE(w.ok()) << w.status();
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(path);
  EXPECT_EQ((*f)->alignment(), 256u);
  EXPECT_EQ((*f)->data_offset() % 256, 0u);
}

TEST_F(GgufTest, UnknownTensorType) {
  GgufBuilder b = TinyBuilder();
  b.FindTensor("blk.0.attn_v.weight")->type = 99;
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"'blk.0.attn_v.weight'", "ggml type 99"}));
  b.FindTensor("blk.0.attn_v.weight")->type = 31;  // Q4_0_4_4, removed from GGUF files
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"'blk.0.attn_v.weight'", "ggml type 31", "removed"}));
}

TEST_F(GgufTest, BadDimensions) {
  GgufBuilder b = TinyBuilder();
  GgufBuilder::Tensor* t = b.FindTensor("blk.0.attn_q.weight");
  t->ne = {256, 256, 1, 1, 1};
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.0.attn_q.weight'", "5 dimensions"}));
  t->ne = {};
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.0.attn_q.weight'", "0 dimensions"}));
  t->ne = {256, 0};
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.0.attn_q.weight'", "ne[1] = 0", "positive"}));
  t->ne = {-256, 256};
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.0.attn_q.weight'", "ne[0] = -256"}));
  t->ne = {int64_t{1} << 32, int64_t{1} << 32};
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.0.attn_q.weight'", "overflows"}));
  t->ne = {int64_t{1} << 40, int64_t{1} << 20};  // 2^60 Q8_0 weights: 2^55 * 34 bytes
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.0.attn_q.weight'", "past the end of the file"}));
  t->ne = {int64_t{1} << 31, int64_t{1} << 31};  // 2^62 F32 weights: 2^64 bytes
  t->type = 0;
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.0.attn_q.weight'", "size in bytes overflows"}));
  t->type = 8;
  t->ne = {100, 256};
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.0.attn_q.weight'", "Q8_0", "not a multiple of the block size 32"}));
}

TEST_F(GgufTest, TensorDataPastEndOfFile) {
  GgufBuilder b = TinyBuilder();
  GgufBuilder::Tensor* t = b.FindTensor("blk.1.ffn_down.weight");
  t->offset = uint64_t{1} << 40;
  t->data.clear();
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.1.ffn_down.weight'", "past the end of the file"}));
  t->offset = ~uint64_t{0} - 31;  // aligned, and offset + bytes wraps around
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'blk.1.ffn_down.weight'", "past the end of the file"}));
}

TEST_F(GgufTest, MisalignedOffset) {
  GgufBuilder b = TinyBuilder();
  b.FindTensor("output_norm.weight")->offset = b.tensors[0].data.size() + 16;
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'output_norm.weight'", "not a multiple of the alignment 32"}));
}

TEST_F(GgufTest, OverlappingTensors) {
  GgufBuilder b = TinyBuilder();
  b.FindTensor("blk.0.attn_norm.weight")->offset = 0;  // on top of token_embd
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"'token_embd.weight'", "'blk.0.attn_norm.weight'", "overlap"}));
}

TEST_F(GgufTest, DuplicateTensorName) {
  GgufBuilder b = TinyBuilder();
  b.FindTensor("blk.1.attn_q.weight")->name = "blk.0.attn_q.weight";
  EXPECT_TRUE(IsError(OpenBytes(b.Build()), absl::StatusCode::kDataLoss,
                      {"duplicate tensor name 'blk.0.attn_q.weight'"}));
}

TEST_F(GgufTest, NotAFile) {
  EXPECT_TRUE(IsError(GgufFile::Open(Path("missing.gguf")).status(), absl::StatusCode::kNotFound,
                      {"missing.gguf"}));
  EXPECT_TRUE(IsError(GgufFile::Open(dir_).status(), absl::StatusCode::kInvalidArgument,
                      {"not a regular file"}));
  EXPECT_TRUE(IsError(OpenBytes(""), absl::StatusCode::kDataLoss, {"truncated", "magic"}));
}

// ---------------------------------------------------------------------------
// Malformed files: LoadGgufModel

TEST_F(GgufTest, WrongArchitecture) {
  GgufBuilder b = TinyBuilder();
  b.SetString("general.architecture", "gpt2");
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"x.gguf", "'gpt2'", "only 'llama'"}));
  b.SetU32("general.architecture", 1);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kInvalidArgument,
                      {"general.architecture", "expected str"}));
}

TEST_F(GgufTest, MissingRequiredKey) {
  for (const char* key : {"general.architecture", "llama.block_count", "llama.embedding_length",
                          "llama.feed_forward_length", "llama.attention.head_count",
                          "llama.context_length", "llama.attention.layer_norm_rms_epsilon"}) {
    GgufBuilder b = TinyBuilder();
    b.Remove(key);
    EXPECT_TRUE(
        IsError(LoadBytes(b.Build()), absl::StatusCode::kNotFound, {"x.gguf", key, "missing"}));
  }
}

TEST_F(GgufTest, OptionalKeysTakeTheirDefaults) {
  GgufBuilder b = TinyBuilder();
  b.Remove("llama.attention.head_count_kv");
  b.Remove("llama.rope.freq_base");
  b.Remove("llama.vocab_size");  // from token_embd's shape
  b.Remove("general.name");      // from the file name
  b.Remove("llama.rope.dimension_count");
  b.SetU32("llama.attention.head_count", 4);
  // Without head_count_kv, K and V have as many heads as Q.
  for (const char* name : {"blk.0.attn_k.weight", "blk.0.attn_v.weight", "blk.1.attn_k.weight",
                           "blk.1.attn_v.weight"}) {
    GgufBuilder::Tensor* t = b.FindTensor(name);
    t->ne = {256, 256};
    t->data.resize(t->data.size() * 4);
  }
  const std::string path = Path("defaults.gguf");
  WriteBytes(path, b.Build());
  absl::StatusOr<ModelWeights> w = LoadGgufModel(path);
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(w->config.n_kv_heads, 4);
  EXPECT_EQ(w->config.rope_theta, 10000.0f);
  EXPECT_EQ(w->config.vocab_size, 512);
  EXPECT_EQ(w->config.name, "defaults");
}

TEST_F(GgufTest, KeyOfWrongType) {
  GgufBuilder b = TinyBuilder();
  b.SetString("llama.block_count", "two");
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kInvalidArgument,
                      {"llama.block_count", "type str", "expected an integer"}));
  b = TinyBuilder();
  b.SetU32("llama.block_count", 0);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kInvalidArgument,
                      {"llama.block_count", "positive"}));
  // Other integer widths are accepted.
  b = TinyBuilder();
  b.Set("llama.block_count", 10, Enc<uint64_t>(2));
  EXPECT_TRUE(LoadBytes(b.Build()).ok());
}

TEST_F(GgufTest, PerLayerArrays) {
  GgufBuilder b = TinyBuilder();
  b.Set("llama.attention.head_count", 9,
        Enc<uint32_t>(4) + Enc<uint64_t>(2) + Enc<uint32_t>(4) + Enc<uint32_t>(4));
  EXPECT_TRUE(LoadBytes(b.Build()).ok()) << LoadBytes(b.Build());
  b.Set("llama.attention.head_count", 9,
        Enc<uint32_t>(4) + Enc<uint64_t>(2) + Enc<uint32_t>(4) + Enc<uint32_t>(8));
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"llama.attention.head_count", "varies between layers"}));
}

TEST_F(GgufTest, ShapeMismatchWithConfig) {
  GgufBuilder b = TinyBuilder();
  GgufBuilder::Tensor* t = b.FindTensor("blk.1.attn_k.weight");
  t->ne = {256, 128};
  t->data.resize(t->data.size() * 2);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kInvalidArgument,
                      {"'blk.1.attn_k.weight'", "[256, 128]", "implies [256, 64]"}));
  // The metadata disagreeing with the tensors is the same error.
  b = TinyBuilder();
  b.SetU32("llama.attention.head_count_kv", 2);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kInvalidArgument,
                      {"'blk.0.attn_k.weight'", "implies [256, 128]"}));
  // A config that cannot be a model.
  b = TinyBuilder();
  b.SetU32("llama.attention.head_count", 3);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kInvalidArgument, {"n_heads"}));
}

TEST_F(GgufTest, MissingTensor) {
  GgufBuilder b = TinyBuilder();
  b.RemoveTensor("blk.1.ffn_up.weight");
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kNotFound,
                      {"x.gguf", "'blk.1.ffn_up.weight'", "missing"}));
}

TEST_F(GgufTest, UnsupportedTensorTypeIsUnimplemented) {
  // As in a Q4_K_M file whose ffn_down matrices are Q5_K (llama.cpp's
  // Q3_K_M and Q5_K_M mixes do that).
  GgufBuilder b = TinyBuilder();
  GgufBuilder::Tensor* t = b.FindTensor("blk.0.ffn_down.weight");
  t->type = 13;  // Q5_K: 176 bytes per 256 weights
  t->data.assign(256 * (512 / 256) * 176, '\0');
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"'blk.0.ffn_down.weight'", "Q5_K"}));
  // A norm that is not F32.
  b = TinyBuilder();
  t = b.FindTensor("output_norm.weight");
  t->type = 1;
  t->data.resize(t->data.size() / 2);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"'output_norm.weight'", "F16", "F32 norms"}));
}

TEST_F(GgufTest, ExtraTensors) {
  GgufBuilder b = TinyBuilder();
  b.tensors.push_back({"blk.0.attn_q.bias", {256}, 0, std::string(256 * 4, '\0'), {}});
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"'blk.0.attn_q.bias'", "bias"}));
  b = TinyBuilder();
  b.tensors.push_back({"mystery.weight", {32}, 0, std::string(32 * 4, '\0'), {}});
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kInvalidArgument,
                      {"'mystery.weight'", "unexpected"}));
}

TEST_F(GgufTest, RopeScalingIsRefused) {
  GgufBuilder b = TinyBuilder();
  b.SetString("llama.rope.scaling.type", "linear");
  b.SetF32("llama.rope.scaling.factor", 8.0f);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"rope scaling", "llama.rope.scaling.factor", "change results"}));
  b.SetF32("llama.rope.scaling.factor", 1.0f);  // no scaling after all
  EXPECT_TRUE(LoadBytes(b.Build()).ok());

  // Llama 3.1-style frequency factors: ignored only when all are 1.
  b = TinyBuilder();
  std::string ones;
  for (int i = 0; i < 32; ++i) ones += Enc<float>(1.0f);
  b.tensors.push_back({"rope_freqs.weight", {32}, 0, ones, {}});
  EXPECT_TRUE(LoadBytes(b.Build()).ok()) << LoadBytes(b.Build());
  Put<float>(b.tensors.back().data, 4 * 31, 8.0f);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"'rope_freqs.weight'", "rope scaling", "change results"}));

  b = TinyBuilder();
  b.SetU32("llama.rope.dimension_count", 32);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"llama.rope.dimension_count", "32"}));
}

TEST_F(GgufTest, ExpertsAreRefused) {
  GgufBuilder b = TinyBuilder();
  b.SetU32("llama.expert_count", 8);
  EXPECT_TRUE(IsError(LoadBytes(b.Build()), absl::StatusCode::kUnimplemented,
                      {"llama.expert_count", "mixture-of-experts"}));
}

// ---------------------------------------------------------------------------
// Writer failures

TEST_F(GgufTest, WriteIntoMissingDirectoryFails) {
  const ModelWeights w = MakeModel(Micro(), Format::kQ8_0, 1);
  EXPECT_TRUE(IsError(WriteGgufModel(w, Path("no/such/dir/m.gguf")), absl::StatusCode::kNotFound,
                      {"no/such/dir"}));
}

TEST_F(GgufTest, WriteOfInvalidWeightsLeavesNoFile) {
  ModelWeights w = MakeModel(Micro(), Format::kQ8_0, 1);
  w.layers[0].wq.data = nullptr;
  EXPECT_TRUE(IsError(WriteGgufModel(w, Path("bad.gguf")), absl::StatusCode::kInvalidArgument,
                      {"blk.0.attn_q.weight"}));
  EXPECT_TRUE(fs::is_empty(dir_));
}

TEST_F(GgufTest, RewriteReplacesTheFileAndLeavesNoTemporaries) {
  const std::string path = Path("m.gguf");
  ASSERT_TRUE(WriteGgufModel(MakeModel(Micro(), Format::kQ8_0, 1), path).ok());
  const ModelWeights second = MakeModel(Micro(), Format::kF16, 2);
  ASSERT_TRUE(WriteGgufModel(second, path).ok());
  absl::StatusOr<ModelWeights> read = LoadGgufModel(path);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSameTensors(*read, second);
  int files = 0;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    EXPECT_EQ(entry.path().filename(), "m.gguf");
    ++files;
  }
  EXPECT_EQ(files, 1);
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::others_read, fs::perms::others_read);
}

// A file size limit makes write() fail part way, as a full disk does.
TEST_F(GgufTest, WriteFailingPartWayIsReportedAndLeavesNoFile) {
  const ModelWeights w = MakeModel(Micro(), Format::kQ8_0, 1);
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct rlimit small = old;
  small.rlim_cur = 4096;
  void (*old_handler)(int) = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const absl::Status s = WriteGgufModel(w, Path("big.gguf"));
  ::setrlimit(RLIMIT_FSIZE, &old);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_TRUE(IsError(s, absl::StatusCode::kResourceExhausted, {"cannot write", "big.gguf"}));
  EXPECT_TRUE(fs::is_empty(dir_));
}

// ---------------------------------------------------------------------------
// Random corruption

TEST_F(GgufTest, RandomByteFlipsNeverCrash) {
  const std::string path = Path("micro.gguf");
  ASSERT_TRUE(WriteGgufModel(MakeModel(Micro(), Format::kQ8_0, 17), path).ok());
  const std::string valid = ReadBytes(path);
  absl::StatusOr<std::unique_ptr<GgufFile>> f = GgufFile::Open(path);
  ASSERT_TRUE(f.ok());
  const uint64_t header = (*f)->data_offset();
  std::mt19937_64 rng(2024);
  int loaded = 0, opened = 0, refused = 0;
  for (int i = 0; i < 2000; ++i) {
    std::string bytes = valid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) {
      // Mostly the header and metadata, where every byte is structure.
      const uint64_t at = rng() % 10 < 9 ? rng() % header : rng() % bytes.size();
      bytes[at] = static_cast<char>(rng() % 3 == 0 ? bytes[at] ^ (1 << (rng() % 8)) : rng());
    }
    const std::string cut = Path("fuzz.gguf");
    WriteBytes(cut, bytes);
    absl::StatusOr<std::unique_ptr<GgufFile>> file = GgufFile::Open(cut);
    if (file.ok()) {
      ++opened;
      // Every getter on every key must be safe too.
      for (const GgufKeyValue& kv : (*file)->metadata()) {
        (void)(*file)->GetInteger(kv.key);
        (void)(*file)->GetFloat(kv.key);
        (void)(*file)->GetString(kv.key);
        (void)(*file)->GetIntegerArray(kv.key);
        (void)(*file)->GetStringArrayElement(kv.key, 0);
      }
      uint64_t sum = 0;
      for (const GgufTensorInfo& t : (*file)->tensors()) {
        if (t.bytes > 0) sum += t.data[0] + t.data[t.bytes - 1];
      }
      (void)sum;
    }
    absl::StatusOr<ModelWeights> w = LoadGgufModel(cut);
    if (w.ok()) {
      ++loaded;
      EXPECT_TRUE(CheckWeights(*w).ok());
    } else {
      ++refused;
      EXPECT_FALSE(w.status().message().empty());
    }
  }
  std::printf("2000 corrupted files: %d opened, %d loaded as models, %d refused\n", opened, loaded,
              refused);
  EXPECT_EQ(loaded + refused, 2000);
}

}  // namespace
}  // namespace aiscore
