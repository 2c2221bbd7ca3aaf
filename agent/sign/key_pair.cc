#include "agent/sign/key_pair.h"

#include <sodium.h>
#include <sys/stat.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "agent/sign/atomic_file.h"
#include "agent/sign/sodium.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kMaxKeyFileBytes = 4096;

std::string Hex(const unsigned char* bytes, size_t n) {
  std::string hex(2 * n + 1, '\0');
  sodium_bin2hex(hex.data(), hex.size(), bytes, n);
  hex.pop_back();
  return hex;
}

// Decodes exactly `n` bytes from 2n lower-case hex digits.
bool DecodeHex(std::string_view hex, unsigned char* out, size_t n) {
  if (hex.size() != 2 * n) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  size_t written = 0;
  return sodium_hex2bin(out, n, hex.data(), hex.size(), nullptr, &written, nullptr) == 0 &&
         written == n;
}

absl::Status Malformed(const fs::path& path, std::string_view what) {
  return absl::DataLossError(absl::StrCat("key file ", path.string(), " is malformed (",
                                          std::string(what),
                                          "); it is not an aiscore key. Move it away to create a "
                                          "new key, or restore it from a backup"));
}

// Refuses a key file that is not a regular file or that others may access.
absl::Status CheckKeyFileMode(const fs::path& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot read key file ", path.string()));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(
        absl::StrCat("key file ", path.string(), " is not a regular file"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "key file %s has mode %04o: others may read or change it. It must be private to its "
        "owner (mode 0600); fix it with `chmod 600 %s`, or move it away to create a new key",
        path.string(), st.st_mode & 07777, path.string()));
  }
  return absl::OkStatus();
}

}  // namespace

std::string KeyFingerprint(std::string_view public_key) {
  // SHA-256 needs no sodium_init(): libsodium has one implementation of it.
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(digest, reinterpret_cast<const unsigned char*>(public_key.data()),
                     public_key.size());
  return "SHA256:" + Hex(digest, 16);
}

absl::StatusOr<KeyPair> KeyPair::Generate() {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  KeyPair key;
  crypto_sign_keypair(key.public_key_.data(), key.secret_key_.data());
  return key;
}

absl::StatusOr<KeyPair> KeyPair::FromSeed(std::string_view seed) {
  if (absl::Status s = InitSodium(); !s.ok()) return s;
  if (seed.size() != kKeySeedBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("an Ed25519 seed is ", kKeySeedBytes, " bytes, not ", seed.size()));
  }
  KeyPair key;
  crypto_sign_seed_keypair(key.public_key_.data(), key.secret_key_.data(),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  return key;
}

KeyPair::~KeyPair() { sodium_memzero(secret_key_.data(), secret_key_.size()); }

absl::StatusOr<KeyPair> KeyPair::Load(const fs::path& path) {
  if (absl::Status s = CheckKeyFileMode(path); !s.ok()) return s;
  absl::StatusOr<std::string> text = ReadSmallFile(path, kMaxKeyFileBytes);
  if (!text.ok()) {
    if (absl::IsFailedPrecondition(text.status())) return Malformed(path, "too large");
    return text.status();
  }
  std::vector<absl::string_view> lines = absl::StrSplit(*text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the final newline
  if (lines.empty() || std::string(lines[0]) != kKeyFileHeader) {
    return Malformed(path,
                     absl::StrCat("the first line is not \"", std::string(kKeyFileHeader), "\""));
  }
  if (lines.size() != 3) {
    return Malformed(path, absl::StrCat(lines.size(), " lines instead of 3; truncated?"));
  }
  constexpr absl::string_view kSeed = "seed ", kPublic = "public ";
  unsigned char seed[kKeySeedBytes];
  unsigned char stored_public[kPublicKeyBytes];
  if (lines[1].substr(0, kSeed.size()) != kSeed ||
      !DecodeHex(std::string(lines[1].substr(kSeed.size())), seed, sizeof(seed))) {
    return Malformed(path, "line 2 is not \"seed\" and 64 lower-case hex digits");
  }
  if (lines[2].substr(0, kPublic.size()) != kPublic ||
      !DecodeHex(std::string(lines[2].substr(kPublic.size())), stored_public,
                 sizeof(stored_public))) {
    return Malformed(path, "line 3 is not \"public\" and 64 lower-case hex digits");
  }
  absl::StatusOr<KeyPair> key =
      FromSeed(std::string_view(reinterpret_cast<const char*>(seed), sizeof(seed)));
  sodium_memzero(seed, sizeof(seed));
  if (!key.ok()) return key.status();
  if (sodium_memcmp(key->public_key_.data(), stored_public, kPublicKeyBytes) != 0) {
    return Malformed(path, "the public key does not belong to the seed");
  }
  return key;
}

absl::StatusOr<KeyPair> KeyPair::LoadOrCreate(const fs::path& path, bool* created) {
  if (created != nullptr) *created = false;
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 || errno != ENOENT) return Load(path);
  std::error_code ec;
  const fs::path dir = path.parent_path();
  if (!dir.empty() && !fs::exists(dir, ec)) {
    fs::create_directories(dir, ec);
    if (ec) {
      return absl::PermissionDeniedError(
          absl::StrCat("cannot create the key's directory ", dir.string(), ": ", ec.message()));
    }
    fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  }
  absl::StatusOr<KeyPair> key = Generate();
  if (!key.ok()) return key.status();
  absl::Status saved = key->Save(path);
  if (absl::IsAlreadyExists(saved)) return Load(path);  // another process was first
  if (!saved.ok()) return saved;
  if (created != nullptr) *created = true;
  return key;
}

absl::Status KeyPair::Save(const fs::path& path) const {
  std::string text =
      absl::StrCat(std::string(kKeyFileHeader), "\nseed ", Hex(secret_key_.data(), kKeySeedBytes),
                   "\npublic ", Hex(public_key_.data(), kPublicKeyBytes), "\n");
  absl::Status s = WriteFileAtomically(path, text, 0600, ExistingFile::kRefuse);
  sodium_memzero(text.data(), text.size());
  return s;
}

std::string KeyPair::public_key() const {
  return std::string(reinterpret_cast<const char*>(public_key_.data()), public_key_.size());
}

std::string KeyPair::Fingerprint() const { return KeyFingerprint(public_key()); }

std::string KeyPair::Sign(std::string_view message) const {
  std::string signature(kSignatureBytes, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(signature.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()), message.size(),
                       secret_key_.data());
  return signature;
}

}  // namespace aiscore
