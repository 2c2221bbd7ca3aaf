// The queue of signed results not yet acknowledged by a collector: one
// directory of envelope files (agent/sign/envelope_file.h), so that a result
// survives a crash, a reboot or an unreachable collector and is sent later.
//
// Layout (docs/envelope.md):
//   <dir>/<YYYYMMDDTHHMMSS.ffffffZ>-<16 hex digits of the nonce>.signed
//   <dir>/rejected/<same name>           results a collector refused for good
//   <dir>/rejected/<same name>.reason    why, as text
// Names sort by the time they were queued. Files are written atomically with
// mode 0600; the directories are created with mode 0700.
//
// Nothing is ever deleted except by Remove, which the submitter calls only
// after a collector acknowledged the result. Several processes may use one
// queue: each file is written once under a fresh name and removed by rename
// or unlink, both atomic. A ResultQueue object is thread-compatible.
#ifndef AISCORE_AGENT_UPLOAD_RESULT_QUEUE_H_
#define AISCORE_AGENT_UPLOAD_RESULT_QUEUE_H_

#include <filesystem>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "aiscore/v1/result.pb.h"

namespace aiscore {

inline constexpr std::string_view kQueuedFileExtension = ".signed";
inline constexpr std::string_view kRejectReasonExtension = ".reason";

class ResultQueue {
 public:
  // Opens the queue in `dir`, creating it and dir/rejected when missing.
  static absl::StatusOr<ResultQueue> Open(const std::filesystem::path& dir);

  // Writes `envelope` as a new file of the queue and returns its path.
  absl::StatusOr<std::filesystem::path> Enqueue(const aiscore::v1::SignedResult& envelope);

  // The queued files (*.signed directly in the directory), oldest first.
  absl::StatusOr<std::vector<std::filesystem::path>> Pending() const;

  // Whether `path` names a file directly in the queue's directory.
  bool Contains(const std::filesystem::path& path) const;

  // Deletes a queued file: call only once a collector acknowledged it.
  // FailedPrecondition for a path outside the queue.
  absl::Status Remove(const std::filesystem::path& path);

  // Moves a queued file to rejected/, with `reason` (text) in a .reason file
  // beside it, and returns its new path. FailedPrecondition for a path outside
  // the queue.
  absl::StatusOr<std::filesystem::path> MoveToRejected(const std::filesystem::path& path,
                                                       std::string_view reason);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path rejected_dir() const { return dir_ / "rejected"; }

 private:
  explicit ResultQueue(std::filesystem::path dir) : dir_(std::move(dir)) {}

  absl::Status CheckInQueue(const std::filesystem::path& path) const;

  std::filesystem::path dir_;  // absolute, normalized
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_UPLOAD_RESULT_QUEUE_H_
