// Whole-file writes that are never seen half done, for the files the agent
// must not lose or corrupt: its signing key, signed results and the queue of
// results not yet acknowledged by a collector.
//
// WriteFileAtomically writes a temporary file in the destination's directory
// (created with open(O_CREAT | O_EXCL) and the requested mode), fsyncs it,
// moves it into place in one step (rename, or link for kRefuse) and fsyncs the
// directory. A reader sees either no file, the old file or the whole new file;
// after a crash at most a temporary ".<name>.tmp-*" file is left behind.
//
// The functions are thread-safe and process-safe as far as the file system is.
#ifndef AISCORE_AGENT_SIGN_ATOMIC_FILE_H_
#define AISCORE_AGENT_SIGN_ATOMIC_FILE_H_

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace aiscore {

// What to do when the destination already exists.
enum class ExistingFile {
  kReplace,  // replace it atomically (rename)
  kRefuse,   // leave it and return AlreadyExists (link, so a racing writer never loses)
};

// Writes `bytes` to `path` as described above; the file gets permission bits
// `mode` exactly (not reduced by the umask). Errors name the file.
absl::Status WriteFileAtomically(const std::filesystem::path& path, std::string_view bytes,
                                 mode_t mode, ExistingFile existing = ExistingFile::kReplace);

// Reads a whole regular file of at most `max_bytes`. NotFound when it does not
// exist, PermissionDenied when it cannot be opened, FailedPrecondition when it
// is not a regular file or is larger than max_bytes. Errors name the file.
absl::StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path, int64_t max_bytes);

// fsyncs a directory, so that a rename or unlink in it survives a crash.
absl::Status SyncDirectory(const std::filesystem::path& dir);

}  // namespace aiscore

#endif  // AISCORE_AGENT_SIGN_ATOMIC_FILE_H_
