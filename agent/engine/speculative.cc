#include "agent/engine/speculative.h"

namespace aiscore {

absl::StatusOr<SpeculativeResult> DecodeSpeculatively(Session& target, Session& draft,
                                                      const SpeculativeOptions& options) {
  return absl::UnimplementedError("speculative decoding is not in the engine yet");
}

}  // namespace aiscore
