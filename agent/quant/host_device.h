// AISCORE_HOST_DEVICE marks the few plain-C++ functions that the GPU must
// compute bit for bit as the host does (half conversion, the synthetic-weight
// generator). It is empty here; CUDA sources (agent/cuda/) define it as
// `__host__ __device__` before their first include, so one definition of each
// such function serves both sides and they cannot drift apart.
#ifndef AISCORE_AGENT_QUANT_HOST_DEVICE_H_
#define AISCORE_AGENT_QUANT_HOST_DEVICE_H_

#ifndef AISCORE_HOST_DEVICE
#define AISCORE_HOST_DEVICE
#endif

#endif  // AISCORE_AGENT_QUANT_HOST_DEVICE_H_
