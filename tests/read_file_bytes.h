// Reads a whole file into a string, byte for byte, for tests that check what
// a program or a library wrote. A missing or unreadable file reads as "".
#ifndef AISCORE_TESTS_READ_FILE_BYTES_H_
#define AISCORE_TESTS_READ_FILE_BYTES_H_

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace aiscore {

inline std::string ReadFileBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_READ_FILE_BYTES_H_
