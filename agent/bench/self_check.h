// The numerical self-check a run does before timing a backend in a format:
// the logits of a small synthetic model on the backend under test against
// the portable reference (the CPU backend's scalar kernels, which the tests
// check against FP64). A format that fails is not timed.
#ifndef AISCORE_AGENT_BENCH_SELF_CHECK_H_
#define AISCORE_AGENT_BENCH_SELF_CHECK_H_

#include <cstdint>

#include "agent/engine/backend.h"
#include "agent/quant/format.h"
#include "aiscore/v1/result.pb.h"

namespace aiscore {

// The largest normalized mean squared error of the logits that passes. F16
// differs from the reference only by rounding order; quantized formats also
// quantize activations, which a backend may do its own (tested) way.
double SelfCheckTolerance(Format format);

// Runs the check model ("tiny" preset, weights from `seed`) over 16 tokens on
// `backend` and on the reference, in batches of 10, 4, 1 and 1 tokens (prefill,
// verification and decode kernels), and compares all logits. Never fails: a
// problem is a FAILED check with the reason in message.
v1::SelfCheck RunSelfCheck(Backend& backend, Format format, uint64_t seed);

}  // namespace aiscore

#endif  // AISCORE_AGENT_BENCH_SELF_CHECK_H_
