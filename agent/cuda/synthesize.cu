#include "agent/cuda/cuda_common.cuh"
#include "agent/cuda/synthesize.cuh"
#include "agent/engine/synthetic_block.h"
#include "agent/engine/synthetic_weights.h"

namespace aiscore::cuda {
namespace {

// Stream words per run of kSyntheticRun plain values (five values a word).
constexpr int64_t kWordsPerRun = (kSyntheticRun + 4) / 5;

// Quantized formats: one thread per block.
__global__ void SynthesizeBlocksKernel(Format format, int block_bytes, int64_t blocks,
                                       uint64_t seed, uint64_t tensor, float stddev, uint8_t* out) {
  const int64_t b = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (b >= blocks) return;
  synthetic::WriteBlock(format, stddev, synthetic::BlockKey(seed, tensor, b),
                        out + b * block_bytes);
}

// Plain formats: run r (kSyntheticRun values keyed by block index r) is
// written five values per stream word; one thread per word.
template <typename T>
__global__ void SynthesizeValuesKernel(int64_t elements, uint64_t seed, uint64_t tensor,
                                       float stddev, bool ones, T* out) {
  const int64_t g = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t run = g / kWordsPerRun, word = g % kWordsPerRun;
  const int64_t first = run * kSyntheticRun + 5 * word;
  const int64_t run_end = min(elements, (run + 1) * kSyntheticRun);
  if (first >= run_end) return;
  const uint64_t r = synthetic::Word(synthetic::BlockKey(seed, tensor, run), word + 1);
  for (int j = 0; j < 5 && first + j < run_end; ++j) {
    const float v = ones ? 1.0f : synthetic::Level(synthetic::LevelIndex(r, j), stddev);
    if constexpr (sizeof(T) == 2) {
      out[first + j] = Fp32ToFp16(v);
    } else {
      out[first + j] = v;
    }
  }
}

}  // namespace

cudaError_t LaunchSynthesizeTensor(const SyntheticTensor& t, void* out, cudaStream_t stream) {
  if (t.elements <= 0) return cudaSuccess;
  const FormatTraits& traits = Traits(t.format);
  if (traits.block_size == 1) {
    const int64_t runs = (t.elements + kSyntheticRun - 1) / kSyntheticRun;
    const unsigned grid = GridFor(runs * kWordsPerRun, 256);
    if (t.format == Format::kF16) {
      SynthesizeValuesKernel<uint16_t><<<grid, 256, 0, stream>>>(
          t.elements, t.seed, t.index, t.stddev, t.ones, static_cast<uint16_t*>(out));
    } else if (t.format == Format::kF32) {
      SynthesizeValuesKernel<float><<<grid, 256, 0, stream>>>(t.elements, t.seed, t.index, t.stddev,
                                                              t.ones, static_cast<float*>(out));
    } else {
      return cudaErrorNotSupported;
    }
    return cudaGetLastError();
  }
  const int64_t blocks = t.elements / traits.block_size;
  SynthesizeBlocksKernel<<<GridFor(blocks, 128), 128, 0, stream>>>(
      t.format, traits.block_bytes, blocks, t.seed, t.index, t.stddev, static_cast<uint8_t*>(out));
  return cudaGetLastError();
}

}  // namespace aiscore::cuda
