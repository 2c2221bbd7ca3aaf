// A read-only view of a GGUF file: header, metadata and tensor infos, with the
// tensor bytes left in a private read-only mapping of the file.
//
// GgufFile::Open maps the file and checks every count, length, type, shape and
// offset against the file's size before using it, so a truncated or corrupted
// file gives a Status that names the problem (and the key or tensor), never an
// out-of-bounds read. The format subset, limits and error codes are in
// docs/gguf.md. GgufFile knows nothing about model architectures; see
// gguf_model.h for Llama models.
//
// Ownership: a GgufFile owns the mapping; every string_view, value and tensor
// data pointer it hands out points into it (or into the GgufFile) and is valid
// for the GgufFile's lifetime. A GgufFile is immutable after Open and safe to
// read from many threads. Like every mmap reader, it assumes the file is not
// truncated by someone else while mapped (that would raise SIGBUS).
#ifndef AISCORE_AGENT_ENGINE_GGUF_FILE_H_
#define AISCORE_AGENT_ENGINE_GGUF_FILE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aiscore {

inline constexpr uint32_t kGgufMagic = 0x46554747;  // "GGUF" read as a little-endian u32
inline constexpr uint32_t kGgufVersion = 3;         // version written; 2 and 3 are read
inline constexpr uint32_t kGgufDefaultAlignment = 32;
inline constexpr int kGgufMaxDims = 4;
inline constexpr int kGgufMaxArrayDepth = 8;  // arrays of arrays nest at most this deep

// Metadata value types, numbered as GGUF numbers them.
enum class GgufType : uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
// "u8", "i32", "f32", "bool", "str", "arr", ...; "type N" for unknown ids.
std::string GgufTypeName(GgufType type);
// Bytes of a fixed-size value; 0 for kString, kArray and unknown ids.
size_t GgufTypeSize(GgufType type);

// The geometry of a ggml tensor type: every type a current GGUF file may
// hold, not only the ones aiscore computes with (see Format for those).
struct GgmlTypeInfo {
  uint32_t id;            // GGML_TYPE_*
  std::string_view name;  // as llama.cpp prints it: "Q6_K"
  int64_t block_size;     // elements per block
  int64_t block_bytes;    // bytes per block
};
// nullptr for ids that are unknown or were removed from GGUF files.
const GgmlTypeInfo* FindGgmlType(uint32_t id);
// "Q6_K", or "unknown type 99".
std::string GgmlTypeName(uint32_t id);

// One metadata value. Strings, and arrays of fixed-size elements, view the
// mapping; elements are little-endian and possibly unaligned (use memcpy).
struct GgufValue {
  GgufType type = GgufType::kUint8;
  uint64_t bits = 0;        // fixed-size scalars: the value's bytes, zero-extended
  std::string_view string;  // kString: the bytes (UTF-8 by convention, not NUL-terminated)
  // kArray only:
  GgufType element_type = GgufType::kUint8;
  uint64_t length = 0;                      // number of elements
  const unsigned char* elements = nullptr;  // fixed-size elements: [length][size] bytes
  std::vector<std::string_view> strings;    // element_type == kString: [length]
  std::vector<GgufValue> arrays;            // element_type == kArray: [length]
};

struct GgufKeyValue {
  std::string key;
  GgufValue value;
};

struct GgufTensorInfo {
  std::string name;
  uint32_t n_dims = 0;          // 1 to 4
  std::array<int64_t, 4> ne{};  // elements per dimension; ne[0] is contiguous; 1 past n_dims
  uint32_t ggml_type = 0;       // GGML_TYPE_*, a type FindGgmlType knows
  uint64_t offset = 0;          // from the start of the data section; a multiple of alignment
  uint64_t bytes = 0;           // size of the data
  const unsigned char* data = nullptr;  // [bytes] in the mapping

  int64_t elements() const { return ne[0] * ne[1] * ne[2] * ne[3]; }
};

class GgufFile {
 public:
  // Maps and parses `path`. Errors carry the path; codes: NotFound or
  // PermissionDenied (cannot open), InvalidArgument (not a GGUF file),
  // Unimplemented (a GGUF version or tensor type this reader does not know),
  // DataLoss (truncated or corrupted structure).
  static absl::StatusOr<std::unique_ptr<GgufFile>> Open(const std::string& path);

  ~GgufFile();
  GgufFile(const GgufFile&) = delete;
  GgufFile& operator=(const GgufFile&) = delete;

  const std::string& path() const { return path_; }
  uint32_t version() const { return version_; }
  uint64_t file_size() const { return size_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }   // start of the data section
  const unsigned char* mapping() const { return base_; }  // [file_size()] bytes

  // Metadata in file order, and lookup by key (nullptr when absent).
  const std::vector<GgufKeyValue>& metadata() const { return kvs_; }
  const GgufValue* Find(std::string_view key) const;

  // Typed getters: NotFound when the key is absent, InvalidArgument when it has
  // another type (the message names the key and both types).
  absl::StatusOr<uint32_t> GetU32(std::string_view key) const;
  absl::StatusOr<uint64_t> GetU64(std::string_view key) const;
  absl::StatusOr<int32_t> GetI32(std::string_view key) const;
  absl::StatusOr<float> GetF32(std::string_view key) const;
  absl::StatusOr<bool> GetBool(std::string_view key) const;
  absl::StatusOr<std::string_view> GetString(std::string_view key) const;
  // Any integer type, as int64 (InvalidArgument for a u64 above INT64_MAX).
  absl::StatusOr<int64_t> GetInteger(std::string_view key) const;
  // f32 or f64, as double.
  absl::StatusOr<double> GetFloat(std::string_view key) const;
  // Arrays: of any element type, of strings, or of integers (as int64).
  absl::StatusOr<const GgufValue*> GetArray(std::string_view key) const;
  absl::StatusOr<uint64_t> GetArrayLength(std::string_view key) const;
  absl::StatusOr<uint64_t> GetStringArrayLength(std::string_view key) const;
  absl::StatusOr<std::string_view> GetStringArrayElement(std::string_view key,
                                                         uint64_t index) const;
  absl::StatusOr<std::vector<int64_t>> GetIntegerArray(std::string_view key) const;

  // Tensor infos in file order, and lookup by name (nullptr when absent).
  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* FindTensor(std::string_view name) const;

 private:
  class Parser;
  GgufFile() = default;

  std::string path_;
  const unsigned char* base_ = nullptr;  // [size_] mapped bytes; nullptr when size_ == 0
  uint64_t size_ = 0;
  uint32_t version_ = 0;
  uint64_t alignment_ = kGgufDefaultAlignment;
  uint64_t data_offset_ = 0;
  std::vector<GgufKeyValue> kvs_;
  std::map<std::string, size_t, std::less<>> kv_index_;  // key -> index into kvs_
  std::vector<GgufTensorInfo> tensors_;
  std::map<std::string, size_t, std::less<>> tensor_index_;  // name -> index into tensors_
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_GGUF_FILE_H_
