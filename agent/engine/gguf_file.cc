#include "agent/engine/gguf_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <limits>
#include <numeric>

#if defined(__SANITIZE_ADDRESS__)
#define AISCORE_GGUF_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AISCORE_GGUF_ASAN 1
#endif
#endif
#ifdef AISCORE_GGUF_ASAN
#include <sanitizer/asan_interface.h>
#endif

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/engine/align.h"

namespace aiscore {

static_assert(std::endian::native == std::endian::little,
              "the GGUF reader assumes a little-endian host, as GGUF files are");

namespace {

// Every ggml type a GGUF file may hold today (ggml.h, ggml-common.h). Ids that
// were removed from GGUF files (4, 5, 31-33, 36-38) are absent on purpose.
constexpr GgmlTypeInfo kGgmlTypes[] = {
    {0, "F32", 1, 4},         {1, "F16", 1, 2},         {2, "Q4_0", 32, 18},
    {3, "Q4_1", 32, 20},      {6, "Q5_0", 32, 22},      {7, "Q5_1", 32, 24},
    {8, "Q8_0", 32, 34},      {9, "Q8_1", 32, 36},      {10, "Q2_K", 256, 84},
    {11, "Q3_K", 256, 110},   {12, "Q4_K", 256, 144},   {13, "Q5_K", 256, 176},
    {14, "Q6_K", 256, 210},   {15, "Q8_K", 256, 292},   {16, "IQ2_XXS", 256, 66},
    {17, "IQ2_XS", 256, 74},  {18, "IQ3_XXS", 256, 98}, {19, "IQ1_S", 256, 50},
    {20, "IQ4_NL", 32, 18},   {21, "IQ3_S", 256, 110},  {22, "IQ2_S", 256, 82},
    {23, "IQ4_XS", 256, 136}, {24, "I8", 1, 1},         {25, "I16", 1, 2},
    {26, "I32", 1, 4},        {27, "I64", 1, 8},        {28, "F64", 1, 8},
    {29, "IQ1_M", 256, 56},   {30, "BF16", 1, 2},       {34, "TQ1_0", 256, 54},
    {35, "TQ2_0", 256, 66},   {39, "MXFP4", 32, 17},    {40, "NVFP4", 64, 36},
    {41, "Q1_0", 128, 18},    {42, "Q2_0", 64, 18},
};

// Smallest encodings, used to bound counts before anything is allocated:
// a key/value is a key length (8), a type (4) and at least one byte of value;
// a tensor info is a name length (8), n_dims (4), one dimension (8), a type
// (4) and an offset (8); an array element of type array is a type and a length.
constexpr uint64_t kMinKeyValueBytes = 8 + 4 + 1;
constexpr uint64_t kMinTensorInfoBytes = 8 + 4 + 8 + 4 + 8;
constexpr uint64_t kMinNestedArrayBytes = 4 + 8;
constexpr uint64_t kStringLengthBytes = 8;

// A name from the file, fit for an error message: printable, at most 80 bytes.
std::string Quote(std::string_view s) {
  constexpr size_t kMax = 80;
  std::string cut(s.substr(0, kMax));
  std::string out = absl::StrCat("'", absl::CHexEscape(cut), "'");
  if (s.size() > kMax) absl::StrAppend(&out, "... (", s.size(), " bytes)");
  return out;
}

absl::Status WithPrefix(const absl::Status& s, std::string_view prefix) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(std::string(prefix), ": ", s.message()));
}

absl::Status ErrnoStatus(int err, const std::string& what) {
  const std::string text = absl::StrCat(what, ": ", std::strerror(err));
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return absl::NotFoundError(text);
    case EACCES:
    case EPERM:
      return absl::PermissionDeniedError(text);
    default:
      return absl::UnknownError(text);
  }
}

// Bytes from the end of a `size`-byte mapping to the end of its last page.
[[maybe_unused]] uint64_t PageTail(uint64_t size) {
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return AlignUp(size, page) - size;
}

bool IsKnownValueType(uint32_t t) { return t <= static_cast<uint32_t>(GgufType::kFloat64); }

bool IsIntegerType(GgufType t) {
  switch (t) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kUint16:
    case GgufType::kInt16:
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kUint64:
    case GgufType::kInt64:
      return true;
    default:
      return false;
  }
}

// The integer value of `bits` read as `type`; false for a u64 above INT64_MAX.
bool IntegerValue(GgufType type, uint64_t bits, int64_t* out) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kUint16:
    case GgufType::kUint32:
      *out = static_cast<int64_t>(bits);
      return true;
    case GgufType::kInt8:
      *out = static_cast<int8_t>(bits);
      return true;
    case GgufType::kInt16:
      *out = static_cast<int16_t>(bits);
      return true;
    case GgufType::kInt32:
      *out = static_cast<int32_t>(bits);
      return true;
    case GgufType::kInt64:
      *out = static_cast<int64_t>(bits);
      return true;
    case GgufType::kUint64:
      if (bits > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return false;
      *out = static_cast<int64_t>(bits);
      return true;
    default:
      return false;
  }
}

}  // namespace

std::string GgufTypeName(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
      return "u8";
    case GgufType::kInt8:
      return "i8";
    case GgufType::kUint16:
      return "u16";
    case GgufType::kInt16:
      return "i16";
    case GgufType::kUint32:
      return "u32";
    case GgufType::kInt32:
      return "i32";
    case GgufType::kFloat32:
      return "f32";
    case GgufType::kBool:
      return "bool";
    case GgufType::kString:
      return "str";
    case GgufType::kArray:
      return "arr";
    case GgufType::kUint64:
      return "u64";
    case GgufType::kInt64:
      return "i64";
    case GgufType::kFloat64:
      return "f64";
  }
  return absl::StrCat("type ", static_cast<uint32_t>(type));
}

size_t GgufTypeSize(GgufType type) {
  switch (type) {
    case GgufType::kUint8:
    case GgufType::kInt8:
    case GgufType::kBool:
      return 1;
    case GgufType::kUint16:
    case GgufType::kInt16:
      return 2;
    case GgufType::kUint32:
    case GgufType::kInt32:
    case GgufType::kFloat32:
      return 4;
    case GgufType::kUint64:
    case GgufType::kInt64:
    case GgufType::kFloat64:
      return 8;
    case GgufType::kString:
    case GgufType::kArray:
      return 0;
  }
  return 0;
}

const GgmlTypeInfo* FindGgmlType(uint32_t id) {
  for (const GgmlTypeInfo& t : kGgmlTypes) {
    if (t.id == id) return &t;
  }
  return nullptr;
}

std::string GgmlTypeName(uint32_t id) {
  const GgmlTypeInfo* t = FindGgmlType(id);
  return t != nullptr ? std::string(t->name) : absl::StrCat("unknown type ", id);
}

// Reads the structure of a mapped file into a GgufFile. Each read checks the
// bytes left first; counts are bounded by the bytes left before anything is
// reserved for them.
class GgufFile::Parser {
 public:
  explicit Parser(GgufFile* file) : f_(file), base_(file->base_), size_(file->size_) {}

  absl::Status Parse() {
    if (absl::Status s = ParseHeader(); !s.ok()) return s;
    if (absl::Status s = ParseMetadata(); !s.ok()) return s;
    if (absl::Status s = ParseAlignment(); !s.ok()) return s;
    if (absl::Status s = ParseTensorInfos(); !s.ok()) return s;
    return PlaceTensors();
  }

 private:
  uint64_t remaining() const { return size_ - pos_; }

  absl::Status Truncated(uint64_t need, const std::string& what) const {
    return absl::DataLossError(absl::StrFormat(
        "file is truncated: %s at offset %d needs %d bytes, but only %d remain (file size %d)",
        what, pos_, need, remaining(), size_));
  }

  // Reads a fixed-size little-endian value; `what` names it for the error.
  template <typename T, typename Describe>
  absl::Status Read(T* out, const Describe& what) {
    if (sizeof(T) > remaining()) return Truncated(sizeof(T), what());
    std::memcpy(out, base_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return absl::OkStatus();
  }

  template <typename Describe>
  absl::Status ReadString(std::string_view* out, const Describe& what) {
    uint64_t length = 0;
    if (absl::Status s = Read(&length, [&] { return absl::StrCat("the length of ", what()); });
        !s.ok()) {
      return s;
    }
    if (length > remaining()) {
      return absl::DataLossError(absl::StrFormat(
          "%s has length %d, which runs past the end of the file (offset %d, %d bytes remain)",
          what(), length, pos_, remaining()));
    }
    *out = std::string_view(reinterpret_cast<const char*>(base_ + pos_), length);
    pos_ += length;
    return absl::OkStatus();
  }

  absl::Status ParseHeader() {
    uint32_t magic = 0;
    if (absl::Status s = Read(&magic, [] { return std::string("the magic number"); }); !s.ok()) {
      return s;
    }
    if (magic != kGgufMagic) {
      const std::string first(reinterpret_cast<const char*>(base_), 4);
      return absl::InvalidArgumentError(
          absl::StrFormat("not a GGUF file: it starts with %s, expected 'GGUF'", Quote(first)));
    }
    uint32_t version = 0;
    if (absl::Status s = Read(&version, [] { return std::string("the version"); }); !s.ok()) {
      return s;
    }
    if (version == 0) return absl::DataLossError("GGUF version is 0, which is not a version");
    if ((version & 0xFFFF) == 0) {
      return absl::UnimplementedError(absl::StrFormat(
          "GGUF version reads as 0x%08x: a big-endian file (or a corrupted header); only "
          "little-endian GGUF files are supported",
          version));
    }
    if (version == 1) {
      return absl::UnimplementedError("GGUF version 1 is not supported (versions 2 and 3 are)");
    }
    if (version > kGgufVersion) {
      return absl::UnimplementedError(absl::StrFormat(
          "GGUF version %d is newer than this reader supports (versions 2 and 3)", version));
    }
    f_->version_ = version;
    if (absl::Status s = Read(&n_tensors_, [] { return std::string("the tensor count"); });
        !s.ok()) {
      return s;
    }
    if (absl::Status s = Read(&n_kv_, [] { return std::string("the metadata count"); }); !s.ok()) {
      return s;
    }
    if (n_kv_ > remaining() / kMinKeyValueBytes) {
      return absl::DataLossError(
          absl::StrFormat("header claims %d metadata key/values, but the %d bytes after the header "
                          "hold at most %d: "
                          "the file is truncated or the count is corrupted",
                          n_kv_, remaining(), remaining() / kMinKeyValueBytes));
    }
    if (n_tensors_ > remaining() / kMinTensorInfoBytes) {
      return absl::DataLossError(
          absl::StrFormat("header claims %d tensors, but the %d bytes after the header hold at "
                          "most %d tensor infos: the file is truncated or the count is corrupted",
                          n_tensors_, remaining(), remaining() / kMinTensorInfoBytes));
    }
    return absl::OkStatus();
  }

  absl::Status ParseMetadata() {
    f_->kvs_.reserve(n_kv_);
    for (uint64_t i = 0; i < n_kv_; ++i) {
      std::string_view key;
      if (absl::Status s = ReadString(&key, [&] { return absl::StrCat("key #", i); }); !s.ok()) {
        return s;
      }
      if (auto it = f_->kv_index_.find(key); it != f_->kv_index_.end()) {
        return absl::DataLossError(absl::StrFormat(
            "duplicate metadata key %s (entries #%d and #%d)", Quote(key), it->second, i));
      }
      uint32_t type = 0;
      if (absl::Status s =
              Read(&type, [&] { return absl::StrCat("the value type of key ", Quote(key)); });
          !s.ok()) {
        return s;
      }
      GgufKeyValue kv;
      kv.key = std::string(key);
      if (absl::Status s = ParseValue(type, 0, kv.key, &kv.value); !s.ok()) return s;
      f_->kv_index_.emplace(kv.key, f_->kvs_.size());
      f_->kvs_.push_back(std::move(kv));
    }
    return absl::OkStatus();
  }

  // Reads a value of type `type` (already read); `depth` counts enclosing arrays.
  absl::Status ParseValue(uint32_t type, int depth, const std::string& key, GgufValue* v) {
    if (!IsKnownValueType(type)) {
      return absl::DataLossError(absl::StrFormat(
          "key %s has unknown value type %d (GGUF value types are 0 to 12)", Quote(key), type));
    }
    v->type = static_cast<GgufType>(type);
    if (v->type == GgufType::kString) {
      return ReadString(&v->string,
                        [&] { return absl::StrCat("the string value of key ", Quote(key)); });
    }
    if (v->type != GgufType::kArray) {
      const size_t n = GgufTypeSize(v->type);
      if (n > remaining()) {
        return Truncated(n,
                         absl::StrCat("the ", GgufTypeName(v->type), " value of key ", Quote(key)));
      }
      std::memcpy(&v->bits, base_ + pos_, n);
      pos_ += n;
      return absl::OkStatus();
    }
    if (depth >= kGgufMaxArrayDepth) {
      return absl::DataLossError(absl::StrFormat("key %s has arrays nested more than %d deep",
                                                 Quote(key), kGgufMaxArrayDepth));
    }
    uint32_t element_type = 0;
    if (absl::Status s =
            Read(&element_type, [&] { return absl::StrCat("the array type of key ", Quote(key)); });
        !s.ok()) {
      return s;
    }
    if (!IsKnownValueType(element_type)) {
      return absl::DataLossError(
          absl::StrFormat("key %s is an array of unknown value type %d (GGUF value types are 0 "
                          "to 12)",
                          Quote(key), element_type));
    }
    v->element_type = static_cast<GgufType>(element_type);
    if (absl::Status s =
            Read(&v->length, [&] { return absl::StrCat("the array length of key ", Quote(key)); });
        !s.ok()) {
      return s;
    }
    const std::string element_name = GgufTypeName(v->element_type);
    auto too_long = [&](uint64_t min_bytes) {
      return absl::DataLossError(absl::StrFormat(
          "key %s is an array of %d %s elements of at least %d bytes each, which runs past the end "
          "of the file (offset %d, %d bytes remain)",
          Quote(key), v->length, element_name, min_bytes, pos_, remaining()));
    };
    switch (v->element_type) {
      case GgufType::kString:
        if (v->length > remaining() / kStringLengthBytes) return too_long(kStringLengthBytes);
        v->strings.resize(v->length);
        for (uint64_t i = 0; i < v->length; ++i) {
          if (absl::Status s = ReadString(
                  &v->strings[i],
                  [&] { return absl::StrFormat("string %d of the array %s", i, Quote(key)); });
              !s.ok()) {
            return s;
          }
        }
        return absl::OkStatus();
      case GgufType::kArray:
        if (v->length > remaining() / kMinNestedArrayBytes) return too_long(kMinNestedArrayBytes);
        v->arrays.resize(v->length);
        for (uint64_t i = 0; i < v->length; ++i) {
          if (absl::Status s = ParseValue(static_cast<uint32_t>(GgufType::kArray), depth + 1, key,
                                          &v->arrays[i]);
              !s.ok()) {
            return s;
          }
        }
        return absl::OkStatus();
      default: {
        const uint64_t n = GgufTypeSize(v->element_type);
        if (v->length > remaining() / n) return too_long(n);
        v->elements = base_ + pos_;
        pos_ += v->length * n;
        return absl::OkStatus();
      }
    }
  }

  absl::Status ParseAlignment() {
    const GgufValue* a = f_->Find("general.alignment");
    if (a == nullptr) return absl::OkStatus();
    if (a->type != GgufType::kUint32) {
      return absl::DataLossError(absl::StrFormat(
          "key 'general.alignment' has type %s, expected u32", GgufTypeName(a->type)));
    }
    if (a->bits == 0 || (a->bits & (a->bits - 1)) != 0) {
      return absl::DataLossError(
          absl::StrFormat("key 'general.alignment' is %d, which is not a power of two", a->bits));
    }
    f_->alignment_ = a->bits;
    return absl::OkStatus();
  }

  absl::Status ParseTensorInfos() {
    f_->tensors_.reserve(n_tensors_);
    for (uint64_t i = 0; i < n_tensors_; ++i) {
      std::string_view name;
      if (absl::Status s =
              ReadString(&name, [&] { return absl::StrCat("the name of tensor #", i); });
          !s.ok()) {
        return s;
      }
      if (auto it = f_->tensor_index_.find(name); it != f_->tensor_index_.end()) {
        return absl::DataLossError(absl::StrFormat("duplicate tensor name %s (tensors #%d and #%d)",
                                                   Quote(name), it->second, i));
      }
      GgufTensorInfo t;
      t.name = std::string(name);
      const std::string qname = Quote(name);
      if (absl::Status s =
              Read(&t.n_dims, [&] { return absl::StrCat("n_dims of tensor ", qname); });
          !s.ok()) {
        return s;
      }
      if (t.n_dims < 1 || t.n_dims > kGgufMaxDims) {
        return absl::DataLossError(
            absl::StrFormat("tensor %s has %d dimensions; GGUF tensors have 1 to %d", qname,
                            t.n_dims, kGgufMaxDims));
      }
      t.ne = {1, 1, 1, 1};
      int64_t elements = 1;
      for (uint32_t d = 0; d < t.n_dims; ++d) {
        if (absl::Status s =
                Read(&t.ne[d], [&] { return absl::StrFormat("ne[%d] of tensor %s", d, qname); });
            !s.ok()) {
          return s;
        }
        if (t.ne[d] <= 0) {
          return absl::DataLossError(absl::StrFormat(
              "tensor %s has ne[%d] = %d; every dimension must be positive", qname, d, t.ne[d]));
        }
        if (__builtin_mul_overflow(elements, t.ne[d], &elements)) {
          return absl::DataLossError(absl::StrFormat(
              "tensor %s has shape [%d, %d, %d, %d] (ne), whose element count overflows 64 bits",
              qname, t.ne[0], t.ne[1], t.ne[2], t.ne[3]));
        }
      }
      if (absl::Status s =
              Read(&t.ggml_type, [&] { return absl::StrCat("the type of tensor ", qname); });
          !s.ok()) {
        return s;
      }
      const GgmlTypeInfo* type = FindGgmlType(t.ggml_type);
      if (type == nullptr) {
        return absl::UnimplementedError(absl::StrFormat(
            "tensor %s has ggml type %d, which this reader does not know (unknown, or removed "
            "from GGUF files)",
            qname, t.ggml_type));
      }
      if (t.ne[0] % type->block_size != 0) {
        return absl::DataLossError(absl::StrFormat(
            "tensor %s of type %s has %d elements per row (ne[0]), not a multiple of the block "
            "size %d",
            qname, type->name, t.ne[0], type->block_size));
      }
      const uint64_t row_bytes = static_cast<uint64_t>(t.ne[0] / type->block_size) *
                                 static_cast<uint64_t>(type->block_bytes);
      const uint64_t rows = static_cast<uint64_t>(elements / t.ne[0]);
      if (__builtin_mul_overflow(row_bytes, rows, &t.bytes)) {
        return absl::DataLossError(
            absl::StrFormat("tensor %s: its size in bytes overflows 64 bits", qname));
      }
      if (absl::Status s =
              Read(&t.offset, [&] { return absl::StrCat("the data offset of tensor ", qname); });
          !s.ok()) {
        return s;
      }
      f_->tensor_index_.emplace(t.name, f_->tensors_.size());
      f_->tensors_.push_back(std::move(t));
    }
    return absl::OkStatus();
  }

  absl::Status PlaceTensors() {
    const uint64_t a = f_->alignment_;
    // pos_ <= size_ < 2^63 and a <= 2^31, so this cannot overflow.
    const uint64_t data_offset = AlignUp(pos_, a);
    f_->data_offset_ = data_offset;
    if (f_->tensors_.empty()) return absl::OkStatus();
    if (data_offset > size_) {
      return absl::DataLossError(absl::StrFormat(
          "file is truncated: the data section would start at offset %d (tensor infos end at %d, "
          "aligned to %d), past the end of the file (size %d)",
          data_offset, pos_, a, size_));
    }
    const uint64_t data_size = size_ - data_offset;
    for (GgufTensorInfo& t : f_->tensors_) {
      if (t.offset % a != 0) {
        return absl::DataLossError(
            absl::StrFormat("tensor %s has data offset %d, which is not a multiple of the "
                            "alignment %d",
                            Quote(t.name), t.offset, a));
      }
      if (t.offset > data_size || t.bytes > data_size - t.offset) {
        return absl::DataLossError(absl::StrFormat(
            "tensor %s (%s, %d bytes at data offset %d) extends past the end of the file: the "
            "data section holds %d bytes from offset %d",
            Quote(t.name), GgmlTypeName(t.ggml_type), t.bytes, t.offset, data_size, data_offset));
      }
      t.data = base_ + data_offset + t.offset;
    }
    std::vector<size_t> order(f_->tensors_.size());
    std::iota(order.begin(), order.end(), size_t{0});
    std::sort(order.begin(), order.end(),
              [&](size_t x, size_t y) { return f_->tensors_[x].offset < f_->tensors_[y].offset; });
    for (size_t i = 1; i < order.size(); ++i) {
      const GgufTensorInfo& prev = f_->tensors_[order[i - 1]];
      const GgufTensorInfo& cur = f_->tensors_[order[i]];
      if (prev.offset + prev.bytes > cur.offset) {
        return absl::DataLossError(absl::StrFormat(
            "tensors %s (data offset %d, %d bytes) and %s (data offset %d) overlap",
            Quote(prev.name), prev.offset, prev.bytes, Quote(cur.name), cur.offset));
      }
    }
    return absl::OkStatus();
  }

  GgufFile* f_;
  const unsigned char* base_;
  uint64_t size_;
  uint64_t pos_ = 0;
  uint64_t n_tensors_ = 0;
  uint64_t n_kv_ = 0;
};

absl::StatusOr<std::unique_ptr<GgufFile>> GgufFile::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return ErrnoStatus(errno, absl::StrCat("cannot open GGUF file ", path));
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return ErrnoStatus(err, absl::StrCat("cannot stat ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return absl::InvalidArgumentError(absl::StrCat(path, ": not a regular file"));
  }
  std::unique_ptr<GgufFile> file(new GgufFile());
  file->path_ = path;
  file->size_ = static_cast<uint64_t>(st.st_size);
  if (file->size_ > 0) {
    void* p = ::mmap(nullptr, file->size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return ErrnoStatus(err, absl::StrCat("cannot map ", path));
    }
    file->base_ = static_cast<const unsigned char*>(p);
#ifdef AISCORE_GGUF_ASAN
    // Under AddressSanitizer, reads between the end of the file and the end of
    // its last page (which the kernel maps as zeros) are reported too.
    ASAN_POISON_MEMORY_REGION(p, PageTail(file->size_) + file->size_);
    ASAN_UNPOISON_MEMORY_REGION(p, file->size_);
#endif
  }
  ::close(fd);  // the mapping stays valid without the descriptor
  Parser parser(file.get());
  if (absl::Status s = parser.Parse(); !s.ok()) return WithPrefix(s, path);
  return file;
}

GgufFile::~GgufFile() {
  if (base_ == nullptr) return;
#ifdef AISCORE_GGUF_ASAN
  ASAN_UNPOISON_MEMORY_REGION(base_, size_ + PageTail(size_));
#endif
  ::munmap(const_cast<unsigned char*>(base_), size_);
}

const GgufValue* GgufFile::Find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kvs_[it->second].value;
}

const GgufTensorInfo* GgufFile::FindTensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

namespace {

absl::Status Missing(std::string_view key) {
  return absl::NotFoundError(absl::StrFormat("key %s is missing", Quote(key)));
}

absl::Status WrongType(std::string_view key, const GgufValue& v, std::string_view want) {
  std::string have = GgufTypeName(v.type);
  if (v.type == GgufType::kArray) have = absl::StrCat("arr[", GgufTypeName(v.element_type), "]");
  return absl::InvalidArgumentError(
      absl::StrFormat("key %s has type %s, expected %s", Quote(key), have, std::string(want)));
}

// The value of `key` if it has type `want`.
absl::StatusOr<const GgufValue*> Typed(const GgufFile& f, std::string_view key, GgufType want) {
  const GgufValue* v = f.Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type != want) return WrongType(key, *v, GgufTypeName(want));
  return v;
}

template <typename T>
absl::StatusOr<T> Scalar(const GgufFile& f, std::string_view key, GgufType want) {
  absl::StatusOr<const GgufValue*> v = Typed(f, key, want);
  if (!v.ok()) return v.status();
  T out;
  std::memcpy(&out, &(*v)->bits, sizeof(T));  // little-endian: the low bytes
  return out;
}

}  // namespace

absl::StatusOr<uint32_t> GgufFile::GetU32(std::string_view key) const {
  return Scalar<uint32_t>(*this, key, GgufType::kUint32);
}
absl::StatusOr<uint64_t> GgufFile::GetU64(std::string_view key) const {
  return Scalar<uint64_t>(*this, key, GgufType::kUint64);
}
absl::StatusOr<int32_t> GgufFile::GetI32(std::string_view key) const {
  return Scalar<int32_t>(*this, key, GgufType::kInt32);
}
absl::StatusOr<float> GgufFile::GetF32(std::string_view key) const {
  return Scalar<float>(*this, key, GgufType::kFloat32);
}
absl::StatusOr<bool> GgufFile::GetBool(std::string_view key) const {
  absl::StatusOr<uint8_t> b = Scalar<uint8_t>(*this, key, GgufType::kBool);
  if (!b.ok()) return b.status();
  return *b != 0;
}

absl::StatusOr<std::string_view> GgufFile::GetString(std::string_view key) const {
  absl::StatusOr<const GgufValue*> v = Typed(*this, key, GgufType::kString);
  if (!v.ok()) return v.status();
  return (*v)->string;
}

absl::StatusOr<int64_t> GgufFile::GetInteger(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (!IsIntegerType(v->type)) return WrongType(key, *v, "an integer");
  int64_t out = 0;
  if (!IntegerValue(v->type, v->bits, &out)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("key %s is %d, which does not fit in int64", Quote(key), v->bits));
  }
  return out;
}

absl::StatusOr<double> GgufFile::GetFloat(std::string_view key) const {
  const GgufValue* v = Find(key);
  if (v == nullptr) return Missing(key);
  if (v->type == GgufType::kFloat32) {
    float f;
    std::memcpy(&f, &v->bits, sizeof(f));
    return f;
  }
  if (v->type == GgufType::kFloat64) {
    double d;
    std::memcpy(&d, &v->bits, sizeof(d));
    return d;
  }
  return WrongType(key, *v, "f32 or f64");
}

absl::StatusOr<const GgufValue*> GgufFile::GetArray(std::string_view key) const {
  return Typed(*this, key, GgufType::kArray);
}

absl::StatusOr<uint64_t> GgufFile::GetArrayLength(std::string_view key) const {
  absl::StatusOr<const GgufValue*> v = GetArray(key);
  if (!v.ok()) return v.status();
  return (*v)->length;
}

absl::StatusOr<uint64_t> GgufFile::GetStringArrayLength(std::string_view key) const {
  absl::StatusOr<const GgufValue*> v = GetArray(key);
  if (!v.ok()) return v.status();
  if ((*v)->element_type != GgufType::kString) return WrongType(key, **v, "arr[str]");
  return (*v)->length;
}

absl::StatusOr<std::string_view> GgufFile::GetStringArrayElement(std::string_view key,
                                                                 uint64_t index) const {
  absl::StatusOr<const GgufValue*> v = GetArray(key);
  if (!v.ok()) return v.status();
  if ((*v)->element_type != GgufType::kString) return WrongType(key, **v, "arr[str]");
  if (index >= (*v)->length) {
    return absl::OutOfRangeError(absl::StrFormat("key %s has %d strings; index %d is out of range",
                                                 Quote(key), (*v)->length, index));
  }
  return (*v)->strings[index];
}

absl::StatusOr<std::vector<int64_t>> GgufFile::GetIntegerArray(std::string_view key) const {
  absl::StatusOr<const GgufValue*> v = GetArray(key);
  if (!v.ok()) return v.status();
  const GgufValue& a = **v;
  if (!IsIntegerType(a.element_type)) return WrongType(key, a, "an array of integers");
  const size_t n = GgufTypeSize(a.element_type);
  std::vector<int64_t> out(a.length);
  for (uint64_t i = 0; i < a.length; ++i) {
    uint64_t bits = 0;
    std::memcpy(&bits, a.elements + i * n, n);
    if (!IntegerValue(a.element_type, bits, &out[i])) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "key %s: element %d is %d, which does not fit in int64", Quote(key), i, bits));
    }
  }
  return out;
}

}  // namespace aiscore
