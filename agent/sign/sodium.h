// libsodium's one-time initialization. Every function of agent/sign that calls
// libsodium calls InitSodium() first; it is cheap after the first call and
// thread-safe.
#ifndef AISCORE_AGENT_SIGN_SODIUM_H_
#define AISCORE_AGENT_SIGN_SODIUM_H_

#include "absl/status/status.h"

namespace aiscore {

// Initializes libsodium once per process (sodium_init). Returns an Internal
// error when libsodium cannot start (no source of randomness).
absl::Status InitSodium();

}  // namespace aiscore

#endif  // AISCORE_AGENT_SIGN_SODIUM_H_
