#include "agent/sign/sodium.h"

#include <sodium.h>

namespace aiscore {

absl::Status InitSodium() {
  // sodium_init() is itself thread-safe and idempotent; the static keeps the
  // result of the first call.
  static const int result = sodium_init();
  if (result < 0) return absl::InternalError("libsodium failed to initialize (sodium_init)");
  return absl::OkStatus();
}

}  // namespace aiscore
