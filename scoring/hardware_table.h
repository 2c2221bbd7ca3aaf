// The hardware spec table: the published memory, memory bandwidth and dense
// FP16 throughput of the accelerators people run LLMs on, and the matching of
// the name a driver reports to one of its rows (docs/hardware.md).
//
// The table is scoring/data/hardware.csv, embedded in the library at build
// time (scoring/CMakeLists.txt), so binaries need no data files. The collector
// uses it for the physics check (a decode rate whose bytes/s exceed the GPU's
// memory bandwidth, or a prefill rate above its peak compute, is implausible)
// and to key leaderboards by canonical GPU name; prediction uses its figures
// times the efficiency of the architecture family.
//
// Matching never guesses a different model: names are compared as whole
// token sequences after normalization (case, vendor and brand words,
// trademark marks, punctuation), and rows that differ only by memory
// ("RTX 4060 Ti 8GB" / "16GB") are told apart by the memory the driver
// reports. When that is not enough the answer is "no match".
//
// The embedded table is parsed once, on first use, and never changes after;
// every function here is thread-safe. Pointers and references into the table
// live as long as the process.
#ifndef AISCORE_SCORING_HARDWARE_TABLE_H_
#define AISCORE_SCORING_HARDWARE_TABLE_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace aiscore {

// One row of the table.
struct HardwareSpec {
  std::string name;                  // canonical display name: "NVIDIA GeForce RTX 4090"
  std::string vendor;                // "NVIDIA", "AMD", "Apple", "Intel"
  std::string family;                // architecture: "ada", "rdna3", "apple-m2"
  int64_t memory_bytes = 0;          // nominal memory: GiB x 2^30 (Apple: largest configuration)
  double memory_bandwidth = 0;       // peak memory bandwidth, bytes/s
  double fp16_flops = 0;             // dense FP16 matrix throughput (FP16 accumulate), FLOP/s
  std::vector<std::string> aliases;  // other spellings, as written in the table
  std::string source;                // where the figures come from
};

// The column header the table format requires as its first line that is not
// blank or a `#` comment.
inline constexpr std::string_view kHardwareTableHeader =
    "name,vendor,family,memory_gib,memory_bandwidth_gbs,fp16_tflops,aliases,source";

// Parses a table in the CSV format of docs/hardware.md: `#` comment lines and
// blank lines are skipped, then the header, then one row per line with the 8
// fields of the header (no quoting: fields hold no commas; aliases are
// `|`-separated). InvalidArgument naming the line and column for any malformed
// row: wrong field count, non-numeric or non-positive figure, empty name,
// vendor, family or source, an empty alias, a duplicate name or an alias
// clashing across rows, a name whose memory suffix differs from its memory
// column, or rows that share a name apart from memory whose memory is too
// close to tell them apart. Also for a missing header or no rows.
absl::StatusOr<std::vector<HardwareSpec>> ParseHardwareTable(std::string_view csv);

// The embedded scoring/data/hardware.csv, byte for byte.
std::string_view HardwareTableCsv();

// The embedded table, parsed once (thread-safe; aborts only if the embedded
// file is broken, which tests/scoring/hardware_table_test.cc guards).
const std::vector<HardwareSpec>& HardwareTable();

// The row a device reports itself as: `reported_name` as a driver gives it
// ("NVIDIA GeForce RTX 4090", "NVIDIA H100 80GB HBM3", "AMD Radeon RX 7900
// XTX", "Apple M2 Max", "Intel(R) Arc(TM) A770 Graphics"), `memory_bytes` the
// total memory the driver reports (0: unknown), which is a little below
// nominal and picks among rows that differ only by memory. nullptr when
// nothing matches confidently: an unknown name, a name shared by memory
// variants with memory unknown or fitting none of them, or reported memory
// above the row's nominal (a different model). The pointer is into
// HardwareTable().
const HardwareSpec* MatchHardware(std::string_view reported_name, int64_t memory_bytes = 0);

// The name a leaderboard shows for a device: the matched row's name; otherwise
// the reported name normalized (leading vendor words "NVIDIA", "AMD", "Intel",
// "Apple" and trademark marks "(R)", "(TM)", "®", "™" removed, whitespace
// collapsed, trimmed) with its memory rounded to whole GiB appended as
// " (N GB)" when memory_bytes > 0, so the same unknown GPU with different
// memory stays apart. An input that is empty after normalization gives
// "unknown".
std::string CanonicalDeviceName(std::string_view reported_name, int64_t memory_bytes);

}  // namespace aiscore

#endif  // AISCORE_SCORING_HARDWARE_TABLE_H_
