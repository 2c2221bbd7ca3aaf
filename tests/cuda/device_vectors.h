// What the CUDA tests share: the backend under test (or the reason there is
// none), typed device buffers that upload and download themselves, and
// weight tensors in device memory.
//
// The tests reach the GPU through the generic Backend interface only
// (CreateBackend("cuda")), so they build in every configuration. Where the
// build has no CUDA backend or the machine no GPU, every test that needs one
// skips with the reason; with AISCORE_CUDA_TESTS_REQUIRE_DEVICE=1 in the
// environment (scripts/gpu-check.sh sets it) those tests fail instead, so a
// GPU machine whose driver is broken cannot pass by skipping everything.
//
// One backend serves a whole test binary (SharedCudaBackend), made by the
// first test that needs it and destroyed after the last: a CUDA fault spoils
// the process's context anyway, and a backend per test costs time. Helpers
// synchronize after each transfer, so host memory handed to them may be
// freed as soon as they return. Not thread-safe, as backends are not.
#ifndef AISCORE_TESTS_CUDA_DEVICE_VECTORS_H_
#define AISCORE_TESTS_CUDA_DEVICE_VECTORS_H_

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "agent/engine/backend.h"
#include "agent/engine/backend_registry.h"
#include "agent/engine/weight_tensor.h"

namespace aiscore {

// ASSIGN_OR_FAIL(lhs, expr): evaluates `expr` (an absl::StatusOr), fails the
// test fatally with its status unless it is ok, else moves its value into
// `lhs` (a declaration or an lvalue). For test bodies and void helpers.
#define AISCORE_TEST_CONCAT_INNER(a, b) a##b
#define AISCORE_TEST_CONCAT(a, b) AISCORE_TEST_CONCAT_INNER(a, b)
#define ASSIGN_OR_FAIL(lhs, expr) \
  ASSIGN_OR_FAIL_IMPL(AISCORE_TEST_CONCAT(status_or_, __LINE__), lhs, expr)
#define ASSIGN_OR_FAIL_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                        \
  ASSERT_TRUE(tmp.ok()) << tmp.status();    \
  lhs = *std::move(tmp)
// Fails the test fatally unless `expr` (an absl::Status) is ok.
#define ASSERT_STATUS_OK(expr)      \
  do {                              \
    const absl::Status s_ = (expr); \
    ASSERT_TRUE(s_.ok()) << s_;     \
  } while (false)

// True when the environment asks for a GPU: tests fail instead of skipping.
inline bool CudaDeviceRequired() {
  const char* v = std::getenv("AISCORE_CUDA_TESTS_REQUIRE_DEVICE");
  return v != nullptr && std::string(v) == "1";
}

// True when AISCORE_CUDA_BIG_TESTS=1: run the checks on 7B-sized models.
inline bool CudaBigTestsEnabled() {
  const char* v = std::getenv("AISCORE_CUDA_BIG_TESTS");
  return v != nullptr && std::string(v) == "1";
}

// A fresh seed for a test's random inputs (std::random_device), or
// AISCORE_TEST_SEED when set, to replay a failure. Tests print it with
// SCOPED_TRACE so that every failure message carries it.
inline uint64_t TestSeed() {
  if (const char* v = std::getenv("AISCORE_TEST_SEED"); v != nullptr && v[0] != '\0') {
    return std::strtoull(v, nullptr, 0);
  }
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) | device();
}

inline bool BuildHasCuda() {
  const std::vector<std::string> names = BackendNames();
  return std::find(names.begin(), names.end(), "cuda") != names.end();
}

// The process's CUDA backend: CreateBackend("cuda")'s result, made on first
// use and destroyed after the last test (so that compute-sanitizer's leak
// check sees every device allocation freed).
inline absl::StatusOr<std::unique_ptr<Backend>>& SharedCudaBackendSlot() {
  static absl::StatusOr<std::unique_ptr<Backend>> slot =
      absl::FailedPreconditionError("not created yet");
  return slot;
}

class SharedCudaBackendReleaser : public ::testing::Environment {
 public:
  void TearDown() override { SharedCudaBackendSlot() = absl::CancelledError("released"); }
};
inline ::testing::Environment* const kSharedCudaBackendReleaser =
    ::testing::AddGlobalTestEnvironment(new SharedCudaBackendReleaser);

// The shared backend, or null with the reason in *why (no CUDA in this
// build, or CreateBackend's status).
inline Backend* SharedCudaBackend(std::string* why) {
  static bool tried = false;
  absl::StatusOr<std::unique_ptr<Backend>>& slot = SharedCudaBackendSlot();
  if (!tried) {
    tried = true;
    if (BuildHasCuda()) {
      slot = CreateBackend("cuda");
    } else {
      slot = absl::UnimplementedError(
          "this build has no CUDA backend (configured with AISCORE_CUDA=OFF or without nvcc)");
    }
  }
  if (!slot.ok()) {
    *why = std::string(slot.status().message());
    return nullptr;
  }
  return slot->get();
}

// A test fixture whose tests need the CUDA backend: SetUp skips the test
// (fails it, with AISCORE_CUDA_TESTS_REQUIRE_DEVICE=1) when there is none.
class CudaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    cuda_ = SharedCudaBackend(&why);
    if (cuda_ != nullptr) return;
    if (CudaDeviceRequired()) {
      GTEST_FAIL() << "no CUDA backend, but AISCORE_CUDA_TESTS_REQUIRE_DEVICE=1: " << why;
    }
    GTEST_SKIP() << "no CUDA backend: " << why;
  }
  Backend& cuda() { return *cuda_; }

 private:
  Backend* cuda_ = nullptr;
};

template <typename T>
class CudaTestWithParam : public CudaTest, public ::testing::WithParamInterface<T> {};

// `count` values of T in device memory of one backend, freed when destroyed.
template <typename T>
class DeviceVector {
 public:
  DeviceVector() = default;

  // Uninitialized device memory for `count` values.
  static absl::StatusOr<DeviceVector> Allocate(Backend& backend, size_t count) {
    absl::StatusOr<std::unique_ptr<DeviceBuffer>> buffer =
        backend.Allocate(std::max<size_t>(1, count) * sizeof(T));
    if (!buffer.ok()) return buffer.status();
    DeviceVector v;
    v.backend_ = &backend;
    v.buffer_ = *std::move(buffer);
    v.count_ = count;
    return v;
  }
  // A device copy of `host`.
  static absl::StatusOr<DeviceVector> Upload(Backend& backend, std::span<const T> host) {
    absl::StatusOr<DeviceVector> v = Allocate(backend, host.size());
    if (!v.ok()) return v.status();
    if (absl::Status s = v->Write(host); !s.ok()) return s;
    return v;
  }
  static absl::StatusOr<DeviceVector> Upload(Backend& backend, const std::vector<T>& host) {
    return Upload(backend, std::span<const T>(host));
  }

  T* data() { return static_cast<T*>(buffer_->data()); }
  const T* data() const { return static_cast<const T*>(buffer_->data()); }
  size_t size() const { return count_; }

  // Overwrites the first host.size() values and waits for the copy.
  absl::Status Write(std::span<const T> host) {
    if (host.size() > count_) return absl::InvalidArgumentError("DeviceVector::Write: too many");
    if (host.empty()) return absl::OkStatus();
    if (absl::Status s = backend_->CopyToDevice(data(), host.data(), host.size_bytes()); !s.ok()) {
      return s;
    }
    return backend_->Synchronize();
  }
  // Waits for every op issued so far, then copies all values back.
  absl::StatusOr<std::vector<T>> Download() const {
    std::vector<T> host(count_);
    if (absl::Status s = backend_->Synchronize(); !s.ok()) return s;
    if (count_ == 0) return host;
    if (absl::Status s = backend_->CopyToHost(host.data(), data(), count_ * sizeof(T)); !s.ok()) {
      return s;
    }
    if (absl::Status s = backend_->Synchronize(); !s.ok()) return s;
    return host;
  }

 private:
  Backend* backend_ = nullptr;
  std::unique_ptr<DeviceBuffer> buffer_;
  size_t count_ = 0;
};

// A weight tensor whose bytes live in device memory it owns.
struct DeviceTensor {
  WeightTensor tensor;                // data points into `bytes`
  DeviceVector<unsigned char> bytes;  // [rows][row_bytes]
};

// Uploads `host` bytes ([rows][RowBytes(format, cols)]) as a tensor.
inline absl::StatusOr<DeviceTensor> UploadTensor(Backend& backend, Format format, int64_t rows,
                                                 int64_t cols,
                                                 const std::vector<unsigned char>& host) {
  DeviceTensor t;
  t.tensor.name = "test";
  t.tensor.format = format;
  t.tensor.rows = rows;
  t.tensor.cols = cols;
  if (host.size() != t.tensor.bytes()) {
    return absl::InvalidArgumentError(
        absl::StrCat("UploadTensor: ", host.size(), " bytes for a tensor of ", t.tensor.bytes()));
  }
  absl::StatusOr<DeviceVector<unsigned char>> bytes = DeviceVector<unsigned char>::Upload(
      backend, std::span<const unsigned char>(host.data(), host.size()));
  if (!bytes.ok()) return bytes.status();
  t.bytes = *std::move(bytes);
  t.tensor.data = t.bytes.data();
  return t;
}

// A view of host bytes as a tensor, for the CPU backend (whose device memory
// is the host's).
inline WeightTensor HostTensor(Format format, int64_t rows, int64_t cols,
                               const std::vector<unsigned char>& host) {
  WeightTensor t;
  t.name = "test";
  t.format = format;
  t.rows = rows;
  t.cols = cols;
  t.data = host.data();
  return t;
}

// Copies `bytes` bytes at device address `src` back and compares them with
// `want`, in chunks of at most 256 MiB (7B models do not fit twice in host
// memory comfortably). Returns the offset of the first differing byte, or
// -1 when they agree; a failed copy is an error.
inline absl::StatusOr<int64_t> FirstDeviceDifference(Backend& backend, const void* src,
                                                     const void* want, size_t bytes) {
  constexpr size_t kChunk = size_t{256} << 20;
  std::vector<unsigned char> chunk(std::min(bytes, kChunk));
  const auto* device = static_cast<const unsigned char*>(src);
  const auto* host = static_cast<const unsigned char*>(want);
  for (size_t done = 0; done < bytes; done += kChunk) {
    const size_t n = std::min(kChunk, bytes - done);
    if (absl::Status s = backend.CopyToHost(chunk.data(), device + done, n); !s.ok()) return s;
    if (absl::Status s = backend.Synchronize(); !s.ok()) return s;
    if (std::memcmp(chunk.data(), host + done, n) != 0) {
      const auto mismatch = std::mismatch(chunk.begin(), chunk.begin() + n, host + done);
      return static_cast<int64_t>(done + (mismatch.first - chunk.begin()));
    }
  }
  return -1;
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_CUDA_DEVICE_VECTORS_H_
