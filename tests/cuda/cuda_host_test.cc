// The CUDA backend's host-side logic, which runs without a GPU: how CUDA and
// cuBLAS results become Status values, how attention splits the positions
// and sizes its scratch, and how prefill matrix products are cut to fit the
// backend's scratch.
#include <gtest/gtest.h>

#include <string>

#include "agent/cuda/attention.cuh"
#include "agent/cuda/cuda_status.h"
#include "agent/cuda/gemm.h"

namespace aiscore {
namespace {

TEST(CudaStatusTest, SuccessIsOk) {
  EXPECT_TRUE(AISCORE_CUDA_STATUS(cudaSuccess).ok());
  EXPECT_TRUE(AISCORE_CUBLAS_STATUS(CUBLAS_STATUS_SUCCESS).ok());
}

TEST(CudaStatusTest, EachErrorMapsToTheCodeCallersActOn) {
  EXPECT_TRUE(absl::IsResourceExhausted(AISCORE_CUDA_STATUS(cudaErrorMemoryAllocation)));
  EXPECT_TRUE(absl::IsFailedPrecondition(AISCORE_CUDA_STATUS(cudaErrorNoDevice)));
  EXPECT_TRUE(absl::IsFailedPrecondition(AISCORE_CUDA_STATUS(cudaErrorInsufficientDriver)));
  EXPECT_TRUE(absl::IsInvalidArgument(AISCORE_CUDA_STATUS(cudaErrorInvalidValue)));
  EXPECT_TRUE(absl::IsUnimplemented(AISCORE_CUDA_STATUS(cudaErrorNotSupported)));
  EXPECT_TRUE(absl::IsInternal(AISCORE_CUDA_STATUS(cudaErrorIllegalAddress)));
  EXPECT_TRUE(absl::IsResourceExhausted(AISCORE_CUBLAS_STATUS(CUBLAS_STATUS_ALLOC_FAILED)));
  EXPECT_TRUE(absl::IsInvalidArgument(AISCORE_CUBLAS_STATUS(CUBLAS_STATUS_INVALID_VALUE)));
  EXPECT_TRUE(absl::IsUnimplemented(AISCORE_CUBLAS_STATUS(CUBLAS_STATUS_ARCH_MISMATCH)));
  EXPECT_TRUE(absl::IsInternal(AISCORE_CUBLAS_STATUS(CUBLAS_STATUS_EXECUTION_FAILED)));
}

TEST(CudaStatusTest, MessageNamesTheErrorTheCallAndWhere) {
  const absl::Status s = AISCORE_CUDA_STATUS(cudaErrorMemoryAllocation);
  const std::string m(s.message());
  EXPECT_NE(m.find("cudaErrorMemoryAllocation"), std::string::npos) << m;
  EXPECT_NE(m.find("out of memory"), std::string::npos) << m;
  EXPECT_NE(m.find("cuda_host_test.cc:"), std::string::npos) << m;
  const std::string b(AISCORE_CUBLAS_STATUS(CUBLAS_STATUS_INVALID_VALUE).message());
  EXPECT_NE(b.find("CUBLAS_STATUS_INVALID_VALUE"), std::string::npos) << b;
}

cuda::AttentionGeometry Geometry(int64_t n, int64_t pos) {
  return {n, pos, /*n_heads=*/32, /*n_kv_heads=*/8, /*head_dim=*/128};
}

TEST(AttentionSplitsTest, ADecodeTokenAtLongContextFillsTheGpu) {
  // One token, 32 heads: 32 blocks; 132 multiprocessors want about 528.
  const int64_t splits = cuda::AttentionSplits(Geometry(1, 8191), 132, int64_t{4} << 20);
  EXPECT_EQ(splits, (4 * 132 + 31) / 32);
  EXPECT_GE(8192 / splits, 128) << "each split keeps at least 128 positions";
}

TEST(AttentionSplitsTest, ShortContextsAndPrefillDoNotSplit) {
  EXPECT_EQ(cuda::AttentionSplits(Geometry(1, 10), 132, int64_t{4} << 20), 1);
  EXPECT_EQ(cuda::AttentionSplits(Geometry(512, 0), 132, int64_t{4} << 20), 1);
  EXPECT_EQ(cuda::AttentionScratchFloats(Geometry(512, 0), 1), 0);
}

TEST(AttentionSplitsTest, SplitsShrinkToFitTheScratch) {
  const cuda::AttentionGeometry g = Geometry(8, 8000);
  const int64_t roomy = cuda::AttentionSplits(g, 132, int64_t{4} << 20);
  ASSERT_GT(roomy, 1);
  const int64_t tight = cuda::AttentionScratchFloats(g, roomy) - 1;
  const int64_t splits = cuda::AttentionSplits(g, 132, tight);
  EXPECT_LT(splits, roomy);
  EXPECT_LE(cuda::AttentionScratchFloats(g, splits), std::max<int64_t>(tight, 0));
  EXPECT_EQ(cuda::AttentionSplits(g, 132, 0), 1) << "no scratch: one split";
}

TEST(PlanGemmTest, F16WeightsAreUsedInPlaceQuantizedOnesInChunks) {
  cuda::GemmScratch scratch;
  scratch.weight_capacity = 4096 * 1000;  // 1000 rows of 4096
  scratch.activation_capacity = 4096 * 300;
  const WeightTensor f16{"w", Format::kF16, 32768, 4096, nullptr};
  EXPECT_EQ(cuda::PlanGemm(f16, 512, scratch).rows, 32768);
  const WeightTensor q4{"w", Format::kQ4_K, 32768, 4096, nullptr};
  const cuda::GemmChunks c = cuda::PlanGemm(q4, 512, scratch);
  EXPECT_EQ(c.rows, 1000);
  EXPECT_EQ(c.tokens, 300);
  EXPECT_EQ(cuda::PlanGemm(q4, 100, scratch).tokens, 100);
}

TEST(PlanGemmTest, ARowLongerThanTheScratchIsReportedAsZero) {
  cuda::GemmScratch scratch;
  scratch.weight_capacity = 100;
  scratch.activation_capacity = 100;
  const WeightTensor q8{"w", Format::kQ8_0, 10, 4096, nullptr};
  const cuda::GemmChunks c = cuda::PlanGemm(q8, 16, scratch);
  EXPECT_EQ(c.rows, 0);
  EXPECT_EQ(c.tokens, 0);
}

}  // namespace
}  // namespace aiscore
