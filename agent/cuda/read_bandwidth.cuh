// A streaming read of device memory, for Backend::MeasureMemoryBandwidth:
// every 16-byte word of a buffer far larger than the L2 cache is read once,
// the way decode reads weights.
#ifndef AISCORE_AGENT_CUDA_READ_BANDWIDTH_CUH_
#define AISCORE_AGENT_CUDA_READ_BANDWIDTH_CUH_

#include <cuda_runtime.h>

#include <cstdint>

namespace aiscore::cuda {

// Reads `bytes` (a multiple of 16) at `data`; writes a value derived from
// them to *sink (one uint32) so that the reads cannot be skipped.
cudaError_t LaunchReadBuffer(const void* data, size_t bytes, uint32_t* sink, int multiprocessors,
                             cudaStream_t stream);

}  // namespace aiscore::cuda

#endif  // AISCORE_AGENT_CUDA_READ_BANDWIDTH_CUH_
