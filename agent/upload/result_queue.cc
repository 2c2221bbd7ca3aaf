#include "agent/upload/result_queue.h"

#include <sodium.h>
#include <stdio.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <string>
#include <system_error>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "agent/sign/atomic_file.h"
#include "agent/sign/envelope_file.h"
#include "agent/sign/sodium.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

absl::Status CreateDirectory(const fs::path& dir) {
  std::error_code ec;
  if (fs::is_directory(dir, ec)) return absl::OkStatus();
  fs::create_directories(dir, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot create the queue directory ", dir.string(), ": ", ec.message()));
  }
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return absl::OkStatus();
}

// "20250131T235959.123456Z": UTC, sortable as text.
std::string TimestampNow() {
  const auto now = std::chrono::system_clock::now();
  const auto micros =
      std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(micros / 1000000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char date[32];
  std::strftime(date, sizeof(date), "%Y%m%dT%H%M%S", &utc);
  return absl::StrFormat("%s.%06dZ", date, static_cast<int>(micros % 1000000));
}

// 16 hex digits naming the result: the start of its nonce, or random bytes
// when the payload has no nonce.
std::string NoncePrefix(const aiscore::v1::SignedResult& envelope) {
  aiscore::v1::RunResult result;
  std::string nonce;
  if (result.ParseFromString(envelope.payload())) nonce = result.nonce();
  if (nonce.size() < 8) {
    nonce.resize(8);
    if (InitSodium().ok()) randombytes_buf(nonce.data(), nonce.size());
  }
  std::string hex;
  for (int i = 0; i < 8; ++i) absl::StrAppendFormat(&hex, "%02x", static_cast<uint8_t>(nonce[i]));
  return hex;
}

}  // namespace

absl::StatusOr<ResultQueue> ResultQueue::Open(const fs::path& dir) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(dir, ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("bad queue directory ", dir.string()));
  if (absl::Status s = CreateDirectory(absolute); !s.ok()) return s;
  if (absl::Status s = CreateDirectory(absolute / "rejected"); !s.ok()) return s;
  const fs::path canonical = fs::canonical(absolute, ec);
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot open the queue directory ", dir.string(), ": ", ec.message()));
  }
  return ResultQueue(canonical);
}

absl::StatusOr<fs::path> ResultQueue::Enqueue(const aiscore::v1::SignedResult& envelope) {
  std::string bytes;
  if (!envelope.SerializeToString(&bytes)) {
    return absl::InternalError("cannot serialize the envelope to queue it");
  }
  const std::string stem = absl::StrCat(TimestampNow(), "-", NoncePrefix(envelope));
  for (int attempt = 1;; ++attempt) {
    const fs::path path = dir_ / absl::StrCat(stem, attempt == 1 ? "" : absl::StrCat("-", attempt),
                                              std::string(kQueuedFileExtension));
    absl::Status s = WriteFileAtomically(path, bytes, 0600, ExistingFile::kRefuse);
    if (s.ok()) return path;
    if (!absl::IsAlreadyExists(s) || attempt >= 100) return s;
  }
}

absl::StatusOr<std::vector<fs::path>> ResultQueue::Pending() const {
  std::vector<fs::path> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir_, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name[0] == '.' || it->path().extension() != kQueuedFileExtension) continue;
    std::error_code type_ec;
    if (!it->is_regular_file(type_ec)) continue;
    files.push_back(it->path());
  }
  if (ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot list the queue ", dir_.string(), ": ", ec.message()));
  }
  std::sort(files.begin(), files.end(),
            [](const fs::path& a, const fs::path& b) { return a.filename() < b.filename(); });
  return files;
}

bool ResultQueue::Contains(const fs::path& path) const {
  std::error_code ec;
  const fs::path p = fs::weakly_canonical(fs::absolute(path, ec), ec);
  return !ec && p.parent_path() == dir_;
}

absl::Status ResultQueue::CheckInQueue(const fs::path& path) const {
  if (Contains(path)) return absl::OkStatus();
  return absl::FailedPreconditionError(
      absl::StrCat(path.string(), " is not a file of the queue ", dir_.string()));
}

absl::Status ResultQueue::Remove(const fs::path& path) {
  if (absl::Status s = CheckInQueue(path); !s.ok()) return s;
  std::error_code ec;
  if (!fs::remove(path, ec) && ec) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot remove ", path.string(), ": ", ec.message()));
  }
  return SyncDirectory(dir_);
}

absl::StatusOr<fs::path> ResultQueue::MoveToRejected(const fs::path& path,
                                                     std::string_view reason) {
  if (absl::Status s = CheckInQueue(path); !s.ok()) return s;
  const fs::path rejected = rejected_dir();
  if (absl::Status s = CreateDirectory(rejected); !s.ok()) return s;
  const fs::path target = rejected / path.filename();
  // The reason first: the result leaves the queue only once it is explained.
  fs::path reason_file = target;
  reason_file += kRejectReasonExtension;
  std::string text(reason);
  if (text.empty() || text.back() != '\n') text += '\n';
  if (absl::Status s = WriteFileAtomically(reason_file, text, 0600); !s.ok()) return s;
  if (::rename(path.c_str(), target.c_str()) != 0) {
    return absl::ErrnoToStatus(
        errno, absl::StrCat("cannot move ", path.string(), " to ", rejected.string()));
  }
  if (absl::Status s = SyncDirectory(rejected); !s.ok()) return s;
  if (absl::Status s = SyncDirectory(dir_); !s.ok()) return s;
  return target;
}

}  // namespace aiscore
