// libFuzzer target: the GGUF reader (agent/engine/gguf_file.h) and the llama
// model loader on top of it (agent/engine/gguf_model.h), on arbitrary bytes.
//
// The bytes become a file in memory (memfd) that GgufFile::Open maps through
// /proc/self/fd, so the real path is exercised: open, fstat, mmap, parse, and
// AddressSanitizer's poisoning of the mapping's tail. Every typed getter is
// called on every key of a file that opens, every tensor's first and last
// byte is read, and the same bytes are then loaded as a llama model. Any
// outcome but a Status is a bug: a crash, a sanitizer report, a leak, a hang.
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "agent/engine/gguf_file.h"
#include "agent/engine/gguf_model.h"
#include "agent/engine/model_weights.h"

namespace {

// The memfd the input is written to, and a path that opens it.
struct MemFile {
  int fd = -1;
  std::string path;
};

const MemFile& TheFile() {
  static const MemFile file = [] {
    MemFile f;
    f.fd = ::memfd_create("gguf_reader_fuzzer", MFD_CLOEXEC);
    if (f.fd < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    f.path = "/proc/self/fd/" + std::to_string(f.fd);
    return f;
  }();
  return file;
}

void WriteAll(int fd, const uint8_t* data, size_t size) {
  if (::ftruncate(fd, 0) != 0) std::abort();
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pwrite(fd, data + done, size - done, static_cast<off_t>(done));
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
}

// Calls every getter on every key; the results are discarded, only safety counts.
void ReadEverything(const aiscore::GgufFile& f) {
  for (const aiscore::GgufKeyValue& kv : f.metadata()) {
    (void)f.GetU32(kv.key);
    (void)f.GetU64(kv.key);
    (void)f.GetI32(kv.key);
    (void)f.GetF32(kv.key);
    (void)f.GetBool(kv.key);
    (void)f.GetString(kv.key);
    (void)f.GetInteger(kv.key);
    (void)f.GetFloat(kv.key);
    (void)f.GetArray(kv.key);
    (void)f.GetIntegerArray(kv.key);
    absl::StatusOr<uint64_t> n = f.GetStringArrayLength(kv.key);
    if (n.ok() && *n > 0) {
      (void)f.GetStringArrayElement(kv.key, 0);
      (void)f.GetStringArrayElement(kv.key, *n - 1);
    }
    (void)f.GetStringArrayElement(kv.key, ~uint64_t{0});
  }
  unsigned sum = 0;
  for (const aiscore::GgufTensorInfo& t : f.tensors()) {
    if (t.bytes > 0) sum += t.data[0] + t.data[t.bytes - 1];
    if (f.FindTensor(t.name) != &t) {
      std::fprintf(stderr, "gguf_reader_fuzzer: FindTensor does not find a listed tensor\n");
      std::abort();
    }
  }
  (void)sum;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const MemFile& file = TheFile();
  WriteAll(file.fd, data, size);
  absl::StatusOr<std::unique_ptr<aiscore::GgufFile>> opened = aiscore::GgufFile::Open(file.path);
  if (opened.ok()) ReadEverything(**opened);
  absl::StatusOr<aiscore::ModelWeights> model = aiscore::LoadGgufModel(file.path);
  if (model.ok()) {
    if (absl::Status s = aiscore::CheckWeights(*model); !s.ok()) {
      std::fprintf(stderr, "gguf_reader_fuzzer: a loaded model fails CheckWeights: %s\n",
                   s.ToString().c_str());
      std::abort();
    }
  }
  return 0;
}
