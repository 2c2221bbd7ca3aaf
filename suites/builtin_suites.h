// The built-in suites' textproto files, embedded at build time by
// suites/CMakeLists.txt. Internal to the loader; use suite_loader.h.
#ifndef AISCORE_SUITES_BUILTIN_SUITES_H_
#define AISCORE_SUITES_BUILTIN_SUITES_H_

#include <string_view>
#include <vector>

namespace aiscore {

struct BuiltInSuite {
  std::string_view name;   // "v1"
  std::string_view bytes;  // the file, byte for byte
};

const std::vector<BuiltInSuite>& BuiltInSuites();

}  // namespace aiscore

#endif  // AISCORE_SUITES_BUILTIN_SUITES_H_
