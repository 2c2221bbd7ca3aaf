// Rounding sizes and offsets up to a multiple (tensor alignment in files and
// buffers, pages, work grains, kernel tiles).
#ifndef AISCORE_AGENT_ENGINE_ALIGN_H_
#define AISCORE_AGENT_ENGINE_ALIGN_H_

#include <concepts>

namespace aiscore {

// The least multiple of `multiple` (positive) that is at least n (n >= 0).
template <std::integral T>
constexpr T AlignUp(T n, T multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

static_assert(AlignUp(0, 64) == 0 && AlignUp(1, 64) == 64 && AlignUp(64, 64) == 64 &&
              AlignUp(65, 64) == 128 && AlignUp(14336 / 2, 16) == 7168 && AlignUp(7, 16) == 16);

}  // namespace aiscore

#endif  // AISCORE_AGENT_ENGINE_ALIGN_H_
