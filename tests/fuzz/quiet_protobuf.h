// SilenceProtobufLogs: drops protobuf's log lines (a string field with
// invalid UTF-8, ...) in the fuzz targets, whose inputs would otherwise print
// one per execution. Call once, from LLVMFuzzerInitialize; not thread-safe.
#ifndef AISCORE_TESTS_FUZZ_QUIET_PROTOBUF_H_
#define AISCORE_TESTS_FUZZ_QUIET_PROTOBUF_H_

#include <google/protobuf/stubs/logging.h>

#include <string>

namespace aiscore {

inline void SilenceProtobufLogs() {
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
}

}  // namespace aiscore

#endif  // AISCORE_TESTS_FUZZ_QUIET_PROTOBUF_H_
