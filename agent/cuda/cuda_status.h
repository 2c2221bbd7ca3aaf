// The one way a CUDA runtime or cuBLAS result becomes an absl::Status: the
// AISCORE_CUDA_STATUS and AISCORE_CUBLAS_STATUS macros wrap a call and carry
// its text, file and line. Out of memory maps to ResourceExhausted (the
// runner reports "does not fit"), a missing driver or device to
// FailedPrecondition, a bad argument to InvalidArgument, an unsupported
// operation to Unimplemented, anything else to Internal.
#ifndef AISCORE_AGENT_CUDA_CUDA_STATUS_H_
#define AISCORE_AGENT_CUDA_CUDA_STATUS_H_

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "absl/status/status.h"

namespace aiscore {

absl::Status CudaStatus(cudaError_t error, const char* statement, const char* file, int line);
absl::Status CublasStatus(cublasStatus_t status, const char* statement, const char* file, int line);

}  // namespace aiscore

#define AISCORE_CUDA_STATUS(expr) ::aiscore::CudaStatus((expr), #expr, __FILE__, __LINE__)
#define AISCORE_CUBLAS_STATUS(expr) ::aiscore::CublasStatus((expr), #expr, __FILE__, __LINE__)

#endif  // AISCORE_AGENT_CUDA_CUDA_STATUS_H_
