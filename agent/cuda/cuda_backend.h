// The CUDA backend: runs the forward-pass ops on one NVIDIA GPU.
//
// Weights are uploaded once (PrepareWeights) or generated on the GPU
// (SynthesizeOnDevice); activations, the KV cache and scratch are device
// memory. Ops are queued on one stream in issue order and return at once;
// a failure (a CUDA error, a kernel fault) is kept and reported by the next
// Synchronize(). Decode-sized matrix products (up to kMaxMatVecTokens
// tokens) run the backend's own kernels, which read the weights once for
// all tokens; larger ones dequantize weights to F16 in chunks and run
// cuBLAS on tensor cores. Device memory is counted: AvailableMemory() says
// what a new allocation can take, and an allocation that fails is a
// ResourceExhausted status, never a crash. One thread drives a backend at a
// time. This header is plain C++; only agent/cuda/ sees CUDA's headers.
#ifndef AISCORE_AGENT_CUDA_CUDA_BACKEND_H_
#define AISCORE_AGENT_CUDA_CUDA_BACKEND_H_

#include <memory>

#include "absl/status/statusor.h"
#include "agent/engine/backend.h"

namespace aiscore {

// Number of CUDA devices this process can use; 0 without a driver or GPU.
int CudaDeviceCount();

// A backend on GPU `device`. FailedPrecondition when there is no such device
// (the message says why: no driver, no GPU, an index out of range).
absl::StatusOr<std::unique_ptr<Backend>> CreateCudaBackend(int device);

}  // namespace aiscore

#endif  // AISCORE_AGENT_CUDA_CUDA_BACKEND_H_
