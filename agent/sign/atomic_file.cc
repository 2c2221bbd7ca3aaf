#include "agent/sign/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace aiscore {
namespace {

namespace fs = std::filesystem;

// Closes a file descriptor when it goes out of scope.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports the error close() gives (a deferred write error).
  int Close() {
    const int r = ::close(fd_);
    fd_ = -1;
    return r;
  }

 private:
  int fd_;
};

absl::Status Errno(int error, const fs::path& path, std::string_view what) {
  return absl::ErrnoToStatus(error, absl::StrCat("cannot ", std::string(what), " ", path.string()));
}

// A name in the destination's directory no other writer uses.
fs::path TempPathFor(const fs::path& path) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return path.parent_path() /
         absl::StrFormat(".%s.tmp-%d-%016x", path.filename().string(), ::getpid(), rng());
}

}  // namespace

absl::Status WriteFileAtomically(const fs::path& path, std::string_view bytes, mode_t mode,
                                 ExistingFile existing) {
  const fs::path temp = TempPathFor(path);
  ScopedFd fd(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (fd.get() < 0) return Errno(errno, temp, "create");
  auto fail = [&](int error, std::string_view what) {
    ::unlink(temp.c_str());
    return Errno(error, path, what);
  };
  // The umask may have taken bits away; set exactly what was asked for.
  if (::fchmod(fd.get(), mode) != 0) return fail(errno, "set the mode of");
  for (size_t done = 0; done < bytes.size();) {
    const ssize_t n = ::write(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail(errno, "write");
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail(errno, "fsync");
  if (fd.Close() != 0) return fail(errno, "close");
  if (existing == ExistingFile::kReplace) {
    if (::rename(temp.c_str(), path.c_str()) != 0) return fail(errno, "rename a temporary file to");
  } else {
    // link() fails with EEXIST instead of replacing, atomically.
    if (::link(temp.c_str(), path.c_str()) != 0) {
      const int error = errno;
      ::unlink(temp.c_str());
      if (error == EEXIST) return absl::AlreadyExistsError(absl::StrCat(path.string(), " exists"));
      return Errno(error, path, "create");
    }
    ::unlink(temp.c_str());
  }
  return SyncDirectory(path.parent_path().empty() ? fs::path(".") : path.parent_path());
}

absl::StatusOr<std::string> ReadSmallFile(const fs::path& path, int64_t max_bytes) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) return Errno(errno, path, "open");
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return Errno(errno, path, "stat");
  if (!S_ISREG(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(path.string(), " is not a regular file"));
  }
  if (st.st_size > max_bytes) {
    return absl::FailedPreconditionError(absl::StrCat(
        path.string(), " is ", st.st_size, " bytes, more than the ", max_bytes, " expected"));
  }
  std::string bytes(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::read(fd.get(), bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Errno(errno, path, "read");
    if (n == 0) break;  // shrank while being read
    done += static_cast<size_t>(n);
  }
  bytes.resize(done);
  return bytes;
}

absl::Status SyncDirectory(const fs::path& dir) {
  ScopedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return Errno(errno, dir, "open directory");
  if (::fsync(fd.get()) != 0) return Errno(errno, dir, "fsync directory");
  return absl::OkStatus();
}

}  // namespace aiscore
