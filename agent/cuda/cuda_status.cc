#include "agent/cuda/cuda_status.h"

#include <string>

#include "absl/strings/str_cat.h"

namespace aiscore {
namespace {

std::string Where(const char* statement, const char* file, int line) {
  return absl::StrCat(statement, " (", file, ":", line, ")");
}

}  // namespace

absl::Status CudaStatus(cudaError_t error, const char* statement, const char* file, int line) {
  if (error == cudaSuccess) return absl::OkStatus();
  const std::string text =
      absl::StrCat("CUDA error ", cudaGetErrorName(error), ": ", cudaGetErrorString(error), " in ",
                   Where(statement, file, line));
  switch (error) {
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(text);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
    case cudaErrorDevicesUnavailable:
      return absl::FailedPreconditionError(text);
    case cudaErrorInvalidValue:
      return absl::InvalidArgumentError(text);
    case cudaErrorNotSupported:
      return absl::UnimplementedError(text);
    default:
      return absl::InternalError(text);
  }
}

absl::Status CublasStatus(cublasStatus_t status, const char* statement, const char* file,
                          int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string text =
      absl::StrCat("cuBLAS error ", cublasGetStatusName(status), ": ",
                   cublasGetStatusString(status), " in ", Where(statement, file, line));
  switch (status) {
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::ResourceExhaustedError(text);
    case CUBLAS_STATUS_NOT_INITIALIZED:
      return absl::FailedPreconditionError(text);
    case CUBLAS_STATUS_INVALID_VALUE:
      return absl::InvalidArgumentError(text);
    case CUBLAS_STATUS_NOT_SUPPORTED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return absl::UnimplementedError(text);
    default:
      return absl::InternalError(text);
  }
}

}  // namespace aiscore
