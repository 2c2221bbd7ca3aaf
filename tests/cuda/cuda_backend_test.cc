// The CUDA backend's behaviour as its users see it: whether the build has
// it, what happens without a device (these run on every machine), and with
// one: memory accounting and exhaustion, a model too big for the device,
// peak memory, timers, the bandwidth probe and the names it reports.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "agent/engine/backend_registry.h"
#include "agent/engine/model_config.h"
#include "agent/engine/model_weights.h"
#include "agent/engine/session.h"
#include "agent/engine/synthetic_weights.h"
#include "tests/cuda/device_vectors.h"

#ifndef AISCORE_TEST_HAVE_CUDA
#error "tests/cuda/CMakeLists.txt defines AISCORE_TEST_HAVE_CUDA (1 in CUDA builds, else 0)"
#endif

namespace aiscore {
namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kGiB = size_t{1} << 30;

std::string Lower(absl::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// ---- Every machine ----

TEST(CudaRegistryTest, BackendNamesListCudaExactlyInCudaBuilds) {
  const std::vector<std::string> names = BackendNames();
  const bool listed = std::find(names.begin(), names.end(), "cuda") != names.end();
  EXPECT_EQ(listed, AISCORE_TEST_HAVE_CUDA == 1);
  if (AISCORE_TEST_HAVE_CUDA) {
    ASSERT_FALSE(names.empty());
    EXPECT_EQ(names.front(), "cuda") << "the best backend comes first";
  }
  EXPECT_NE(std::find(names.begin(), names.end(), "cpu"), names.end());
}

TEST(CudaRegistryTest, WithoutADeviceCudaIsAnErrorThatSaysWhy) {
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend("cuda");
  if (!AISCORE_TEST_HAVE_CUDA) {
    ASSERT_EQ(b.status().code(), absl::StatusCode::kNotFound) << b.status();
    EXPECT_NE(b.status().message().find("cuda"), absl::string_view::npos) << b.status();
    return;
  }
  if (b.ok()) GTEST_SKIP() << "this machine has a GPU: " << (*b)->device_name();
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition) << b.status();
  const std::string message = Lower(b.status().message());
  EXPECT_GT(message.size(), 10u) << b.status();
  EXPECT_TRUE(
      message.find("gpu") != std::string::npos || message.find("cuda") != std::string::npos ||
      message.find("driver") != std::string::npos || message.find("device") != std::string::npos)
      << "the message should say what is missing: " << b.status();
}

TEST(CudaRegistryTest, AutoPicksCudaWhenThereIsADeviceElseCpu) {
  absl::StatusOr<std::unique_ptr<Backend>> cuda = CreateBackend("cuda");
  const bool device = cuda.ok();
  cuda = absl::CancelledError("released");  // one backend at a time
  absl::StatusOr<std::unique_ptr<Backend>> picked = CreateBackend("auto");
  ASSERT_TRUE(picked.ok()) << picked.status();
  EXPECT_EQ((*picked)->name(), device ? "cuda" : "cpu");
}

TEST(CudaRegistryTest, ADeviceIndexOutOfRangeIsFailedPrecondition) {
  if (!AISCORE_TEST_HAVE_CUDA) GTEST_SKIP() << "this build has no CUDA backend";
  absl::StatusOr<std::unique_ptr<Backend>> b = CreateBackend("cuda", {.device = 99});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), absl::StatusCode::kFailedPrecondition) << b.status();
  EXPECT_FALSE(b.status().message().empty());
}

// ---- With a device ----

class CudaBackendTest : public CudaTest {};

TEST_F(CudaBackendTest, NamesAndDetailsAreSane) {
  EXPECT_EQ(cuda().name(), "cuda");
  const std::string device = cuda().device_name();
  EXPECT_FALSE(device.empty());
  EXPECT_TRUE(std::all_of(device.begin(), device.end(), [](unsigned char c) {
    return std::isprint(c);
  })) << device;
  const BackendDetails d = cuda().details();
  EXPECT_FALSE(d.host_memory) << "a GPU's memory is its own";
  EXPECT_TRUE(d.synthesizes_weights) << "the CUDA backend makes synthetic models on the device";
  EXPECT_GT(cuda().AvailableMemory(), kGiB);
  RecordProperty("device_name", device);
}

TEST_F(CudaBackendTest, CopiesRoundTripAtAnySizeAndOffset) {
  std::vector<unsigned char> host(1000003);
  for (size_t i = 0; i < host.size(); ++i) host[i] = static_cast<unsigned char>(i * 131 + 7);
  ASSIGN_OR_FAIL(auto device, DeviceVector<unsigned char>::Upload(cuda(), host));
  // 17 bytes at an odd offset.
  const unsigned char patch[17] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17};
  ASSERT_STATUS_OK(cuda().CopyToDevice(device.data() + 3, patch, sizeof(patch)));
  std::memcpy(host.data() + 3, patch, sizeof(patch));
  ASSIGN_OR_FAIL(const std::vector<unsigned char> back, device.Download());
  EXPECT_EQ(back, host);
  unsigned char tail[5] = {};
  ASSERT_STATUS_OK(cuda().CopyToHost(tail, device.data() + host.size() - 5, 5));
  ASSERT_STATUS_OK(cuda().Synchronize());
  EXPECT_EQ(0, std::memcmp(tail, host.data() + host.size() - 5, 5));
}

TEST_F(CudaBackendTest, AvailableMemoryShrinksByAnAllocation) {
  const size_t before = cuda().AvailableMemory();
  ASSIGN_OR_FAIL(auto block, DeviceVector<unsigned char>::Allocate(cuda(), kGiB));
  const size_t after = cuda().AvailableMemory();
  EXPECT_LE(after + kGiB, before + 64 * kMiB) << "before " << before << ", after " << after;
}

// An allocation beyond what is available is a status, not a crash, and
// leaves the backend working.
TEST_F(CudaBackendTest, AllocatingMoreThanAvailableIsResourceExhausted) {
  const size_t available = cuda().AvailableMemory();
  for (const size_t bytes : {available + kGiB, available * 2 + kGiB}) {
    absl::StatusOr<std::unique_ptr<DeviceBuffer>> b = cuda().Allocate(bytes);
    ASSERT_FALSE(b.ok()) << "allocated " << bytes << " bytes with " << available << " available";
    EXPECT_EQ(b.status().code(), absl::StatusCode::kResourceExhausted) << b.status();
  }
  ASSERT_STATUS_OK(cuda().Synchronize());
  const std::vector<float> x = {1, 2, 3, 4, 5}, y = {10, 20, 30, 40, 50};
  ASSIGN_OR_FAIL(auto dx, DeviceVector<float>::Upload(cuda(), x));
  ASSIGN_OR_FAIL(auto dy, DeviceVector<float>::Upload(cuda(), y));
  cuda().Add(dx.data(), dy.data(), 5);
  ASSIGN_OR_FAIL(const std::vector<float> sum, dx.Download());
  EXPECT_EQ(sum, (std::vector<float>{11, 22, 33, 44, 55}));
  ASSIGN_OR_FAIL(auto big, DeviceVector<unsigned char>::Allocate(cuda(), kGiB));
  EXPECT_EQ(big.size(), kGiB);
}

// target-7b's layers repeated until the weights take half again the memory
// the device has. Every tensor points at one zeroed host buffer as large as
// the largest tensor, so an upload, however far it gets, reads valid memory.
TEST_F(CudaBackendTest, ASessionOfAModelTooBigForTheDeviceDoesNotFit) {
  ModelConfig config = *ModelPreset("target-7b");
  const auto bytes_with_layers = [&](int64_t layers) {
    ModelConfig c = config;
    c.n_layers = layers;
    return DescribeWeights(c, Format::kF16)->TotalBytes();
  };
  const size_t per_layer = bytes_with_layers(2) - bytes_with_layers(1);
  config.n_layers = static_cast<int64_t>(cuda().AvailableMemory() * 3 / 2 / per_layer) + 1;
  ASSERT_LE(config.n_layers, 1024) << "a device of more than ~400 GiB: raise the model";
  ASSIGN_OR_FAIL(ModelWeights w, DescribeWeights(config, Format::kF16));
  size_t largest = 0;
  for (const WeightTensor* t : w.Tensors()) largest = std::max(largest, t->bytes());
  const std::vector<unsigned char> zeros(largest);
  for (WeightTensor* t : w.MutableTensors()) t->data = zeros.data();
  ASSERT_GT(w.TotalBytes(), cuda().AvailableMemory());
  const size_t available = cuda().AvailableMemory();

  absl::StatusOr<std::unique_ptr<Session>> s =
      Session::Create(&cuda(), w, {.max_context = 16, .max_batch = 16});
  ASSERT_FALSE(s.ok()) << w.TotalBytes() << " bytes of weights fit in " << available;
  EXPECT_EQ(s.status().code(), absl::StatusCode::kResourceExhausted) << s.status();
  EXPECT_NE(s.status().message().find("does not fit"), absl::string_view::npos) << s.status();
  // Whatever it uploaded before it gave up is freed again.
  EXPECT_GE(cuda().AvailableMemory() + 64 * kMiB, available);
  ASSIGN_OR_FAIL(auto big, DeviceVector<unsigned char>::Allocate(cuda(), kGiB));
}

// The generator, asked for a model larger than the device, says so.
TEST_F(CudaBackendTest, SynthesizingAModelTooBigForTheDeviceIsResourceExhausted) {
  ModelConfig config = *ModelPreset("target-7b");
  config.n_layers = 1024;  // about 450 GB at F16
  const size_t available = cuda().AvailableMemory();
  absl::StatusOr<ModelWeights> w = cuda().SynthesizeOnDevice(config, Format::kF16, 1);
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().code(), absl::StatusCode::kResourceExhausted) << w.status();
  EXPECT_GE(cuda().AvailableMemory() + 64 * kMiB, available);
}

TEST_F(CudaBackendTest, PeakMemoryGrowsWithAllocationsAndResets) {
  constexpr size_t kBig = 256 * kMiB, kSmall = 128 * kMiB;
  cuda().ResetPeakMemory();
  const int64_t p0 = cuda().PeakMemoryBytes();
  int64_t p1 = 0;
  {
    ASSIGN_OR_FAIL(auto big, DeviceVector<unsigned char>::Allocate(cuda(), kBig));
    p1 = cuda().PeakMemoryBytes();
    EXPECT_GE(p1, p0 + static_cast<int64_t>(kBig));
  }
  ASSIGN_OR_FAIL(auto small, DeviceVector<unsigned char>::Allocate(cuda(), kSmall));
  EXPECT_GE(cuda().PeakMemoryBytes(), p1) << "a peak does not shrink when memory is freed";
  cuda().ResetPeakMemory();
  const int64_t p2 = cuda().PeakMemoryBytes();
  EXPECT_LT(p2, p1) << "after a reset the peak is what is in use now";
  EXPECT_GE(p2, static_cast<int64_t>(kSmall));
}

TEST_F(CudaBackendTest, ATimerMeasuresTheOpsBetweenStartAndStop) {
  constexpr int64_t kCount = int64_t{64} << 20;  // 256 MiB of floats
  ASSIGN_OR_FAIL(auto x, DeviceVector<float>::Allocate(cuda(), kCount));
  ASSIGN_OR_FAIL(auto y, DeviceVector<float>::Allocate(cuda(), kCount));
  std::unique_ptr<DeviceTimer> timer = cuda().CreateTimer();
  ASSERT_NE(timer, nullptr);
  timer->Start();
  for (int i = 0; i < 20; ++i) cuda().Add(x.data(), y.data(), kCount);
  ASSIGN_OR_FAIL(const double seconds, timer->Stop());
  // 20 passes reading 512 MiB and writing 256 MiB: ~5 ms at 3 TB/s.
  EXPECT_GT(seconds, 1e-4);
  EXPECT_LT(seconds, 10.0);
  // An empty interval: not negative.
  timer->Start();
  ASSIGN_OR_FAIL(const double empty, timer->Stop());
  EXPECT_GE(empty, 0.0);
  EXPECT_LT(empty, seconds);
  ASSERT_STATUS_OK(cuda().Synchronize());
}

TEST_F(CudaBackendTest, MemoryBandwidthIsPlausible) {
  ASSIGN_OR_FAIL(const double bytes_per_second, cuda().MeasureMemoryBandwidth());
  EXPECT_GT(bytes_per_second, 50e9);
  EXPECT_LT(bytes_per_second, 20e12);
  RecordProperty("memory_bandwidth_gb_s", std::to_string(bytes_per_second / 1e9));
}

// Creating and destroying backends gives their memory back.
TEST_F(CudaBackendTest, ABackendFreesItsMemoryWhenDestroyed) {
  const size_t before = cuda().AvailableMemory();
  for (int i = 0; i < 3; ++i) {
    ASSIGN_OR_FAIL(std::unique_ptr<Backend> other, CreateBackend("cuda"));
    ASSIGN_OR_FAIL(auto block, DeviceVector<unsigned char>::Allocate(*other, 512 * kMiB));
    ASSIGN_OR_FAIL(const ModelWeights w,
                   other->SynthesizeOnDevice(*ModelPreset("small"), Format::kQ4_K, i));
    ASSERT_STATUS_OK(other->Synchronize());
  }
  EXPECT_GE(cuda().AvailableMemory() + 64 * kMiB, before);
}

}  // namespace
}  // namespace aiscore
