// A per-test temporary directory: a fresh, empty directory under the system's
// temporary directory, named after the process id and the running test so
// that tests run in parallel (ctest -j) never share one. It is created by the
// constructor and removed, with everything in it, by the destructor. Make it
// a member of a test fixture, or a local of a test body: it must be
// constructed while a test runs, since it takes that test's name.
#ifndef AISCORE_TESTS_TEMP_DIR_H_
#define AISCORE_TESTS_TEMP_DIR_H_

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>

namespace aiscore {

class TempDir {
 public:
  TempDir() {
    const ::testing::TestInfo* test = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "aiscore_" + std::to_string(::getpid());
    if (test != nullptr) {
      name += std::string("_") + test->test_suite_name() + "_" + test->name();
    }
    std::replace(name.begin(), name.end(), '/', '_');  // parameterized tests: "Suite/Name/0"
    path_ = std::filesystem::temp_directory_path() / name;
    std::filesystem::remove_all(path_);  // left over from an earlier process with this id
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  // The file or directory `name` inside it, as a string for command lines.
  std::string Path(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace aiscore

#endif  // AISCORE_TESTS_TEMP_DIR_H_
