// The agent's Ed25519 signing key (libsodium crypto_sign), kept in one file
// that only its owner may read. docs/envelope.md describes the file.
//
// A KeyPair owns its secret key and wipes it when destroyed; it is copyable
// and movable, and const methods are thread-safe.
//
// The key file is text, mode 0600:
//   aiscore-ed25519-key-v1
//   seed <64 lower-case hex digits: the 32-byte Ed25519 seed>
//   public <64 lower-case hex digits: the 32-byte public key>
// The public key is derived from the seed on load and must match the stored
// one, so a damaged file is refused rather than used as a different key.
#ifndef AISCORE_AGENT_SIGN_KEY_PAIR_H_
#define AISCORE_AGENT_SIGN_KEY_PAIR_H_

#include <array>
#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace aiscore {

inline constexpr size_t kPublicKeyBytes = 32;  // Ed25519 public key
inline constexpr size_t kSignatureBytes = 64;  // Ed25519 detached signature
inline constexpr size_t kKeySeedBytes = 32;    // Ed25519 seed, the secret in the file
inline constexpr std::string_view kKeyFileHeader = "aiscore-ed25519-key-v1";

// "SHA256:" followed by the lower-case hex of the first 16 bytes of
// SHA-256(public_key): a short name for a key, shown to people and by the
// collector. `public_key` is the raw 32 bytes.
std::string KeyFingerprint(std::string_view public_key);

class KeyPair {
 public:
  // Loads the key at `path`, or creates a new random one there when no file
  // exists (and its directory, mode 0700). Sets *created (when given) to
  // whether it was created. Refuses, naming the file, a key file that others
  // may read or write (mode looser than 0600), that is not a regular file, or
  // whose contents are malformed; such a file is never overwritten.
  static absl::StatusOr<KeyPair> LoadOrCreate(const std::filesystem::path& path,
                                              bool* created = nullptr);
  // Loads an existing key file, with the checks above.
  static absl::StatusOr<KeyPair> Load(const std::filesystem::path& path);
  // A new random key, not stored.
  static absl::StatusOr<KeyPair> Generate();
  // The key for a 32-byte seed (deterministic; for tests and tools).
  static absl::StatusOr<KeyPair> FromSeed(std::string_view seed);

  KeyPair(const KeyPair& other) = default;
  KeyPair& operator=(const KeyPair& other) = default;
  ~KeyPair();

  // Writes the key file at `path` (mode 0600, atomically); AlreadyExists if
  // there is a file there.
  absl::Status Save(const std::filesystem::path& path) const;

  // The raw 32-byte public key.
  std::string public_key() const;
  // KeyFingerprint(public_key()).
  std::string Fingerprint() const;
  // The 64-byte Ed25519 detached signature of `message`.
  std::string Sign(std::string_view message) const;

 private:
  KeyPair() = default;

  std::array<unsigned char, 64> secret_key_{};  // libsodium layout: seed, then public key
  std::array<unsigned char, kPublicKeyBytes> public_key_{};
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_SIGN_KEY_PAIR_H_
