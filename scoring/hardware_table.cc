#include "scoring/hardware_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <unordered_map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace aiscore {
namespace {

constexpr double kBytesPerGiB = 1024.0 * 1024.0 * 1024.0;

// A driver reports a little less memory than nominal (an H100 80GB: 79.6 GiB)
// and never more; a device reporting more than kAboveNominal x a row's memory
// is a different model (a 48 GB RTX 4090 is not the 24 GB one). Among rows
// that differ only by memory, a row is picked when the reported memory lies
// within [kBelowNominal, kAboveNominal] x its nominal memory.
constexpr double kAboveNominal = 1.03;
constexpr double kBelowNominal = 0.90;

constexpr int kColumnCount = 8;
constexpr std::string_view kColumns[kColumnCount] = {
    "name",        "vendor",  "family", "memory_gib", "memory_bandwidth_gbs",
    "fp16_tflops", "aliases", "source"};
constexpr int kNameColumn = 0;
constexpr int kAliasesColumn = 6;

// Vendor and brand-line words dropped before matching. None of them ever
// tells two models apart ("NVIDIA GeForce RTX 4090" is "RTX 4090"; "Tesla
// V100" is "V100"; "Intel(R) Arc(TM) A770 Graphics" is "Arc A770"); the parser
// rejects a table in which dropping them would make two rows' keys meet.
constexpr std::string_view kDroppedWords[] = {"nvidia", "geforce",  "tesla",    "amd",
                                              "ati",    "radeon",   "instinct", "intel",
                                              "apple",  "graphics", "gpu"};

// Leading words CanonicalDeviceName removes from a name it does not know.
constexpr std::string_view kVendorWords[] = {"nvidia", "amd", "intel", "apple"};

// This absl's string_view is its own type, not std::string_view.
absl::string_view Sv(std::string_view s) { return absl::string_view(s.data(), s.size()); }

std::string_view StripWhitespace(std::string_view s) {
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.front()))) {
    s.remove_prefix(1);
  }
  while (!s.empty() && absl::ascii_isspace(static_cast<unsigned char>(s.back()))) {
    s.remove_suffix(1);
  }
  return s;
}

// The pieces of `s` between occurrences of `separator`, empty ones included.
std::vector<std::string_view> Split(std::string_view s, char separator) {
  std::vector<std::string_view> pieces;
  size_t start = 0;
  for (size_t end; (end = s.find(separator, start)) != std::string_view::npos; start = end + 1) {
    pieces.push_back(s.substr(start, end - start));
  }
  pieces.push_back(s.substr(start));
  return pieces;
}

// The runs of `s` that are not whitespace.
std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && absl::ascii_isspace(static_cast<unsigned char>(s[i]))) ++i;
    const size_t start = i;
    while (i < s.size() && !absl::ascii_isspace(static_cast<unsigned char>(s[i]))) ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

std::string Join(const std::vector<std::string_view>& words) {
  std::string out;
  for (std::string_view word : words) {
    if (!out.empty()) out.push_back(' ');
    out.append(word);
  }
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsLower(char c) { return c >= 'a' && c <= 'z'; }

bool AllDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!IsDigit(c)) return false;
  }
  return true;
}

bool IsDroppedWord(std::string_view token) {
  for (std::string_view word : kDroppedWords) {
    if (token == word) return true;
  }
  return false;
}

// A name as matching sees it. "NVIDIA GeForce RTX 4060Ti (16 GB)" and
// "rtx 4060 ti 16GB" both give key "rtx 4060 ti 16gb", base "rtx 4060 ti",
// memory_gib {16}.
struct NameKey {
  std::string key;                  // normalized tokens joined by single spaces
  std::string base;                 // the key without its memory tokens
  std::vector<int64_t> memory_gib;  // the memory tokens' sizes ("16gb": 16)
};

// Lowercases ASCII, drops parenthesized groups ("(R)", "(TM)", driver
// decorations such as "(DG2)" or "(RADV NAVI31)"), turns every other
// character that is not a letter or digit (punctuation, "®", "™") into a
// separator, splits a token where a digit is followed by a letter ("4060ti"
// is "4060 ti", "80GB" is "80 gb"; "a100" stays whole), joins a number and a
// following "gb", "gib" or "g" into one memory token "80gb", and drops the
// words of kDroppedWords.
NameKey Normalize(std::string_view name) {
  std::string cleaned;
  cleaned.reserve(name.size());
  int depth = 0;
  for (char c : name) {
    if (c == '(') {
      ++depth;
      cleaned.push_back(' ');
    } else if (c == ')') {
      if (depth > 0) --depth;
      cleaned.push_back(' ');
    } else if (depth > 0) {
      continue;
    } else {
      const char lower = absl::ascii_tolower(static_cast<unsigned char>(c));
      cleaned.push_back(IsLower(lower) || IsDigit(lower) ? lower : ' ');
    }
  }
  std::vector<std::string> tokens;
  for (std::string_view word : Words(cleaned)) {
    size_t start = 0;
    for (size_t i = 1; i < word.size(); ++i) {
      if (IsDigit(word[i - 1]) && IsLower(word[i])) {
        tokens.emplace_back(word.substr(start, i - start));
        start = i;
      }
    }
    tokens.emplace_back(word.substr(start));
  }
  NameKey out;
  std::vector<std::string_view> key_tokens;
  std::vector<std::string_view> base_tokens;
  std::vector<std::string> memory_tokens;  // owns the "80gb" tokens key_tokens points at
  memory_tokens.reserve(tokens.size());    // never reallocates: the views stay valid
  for (size_t i = 0; i < tokens.size(); ++i) {
    const std::string& token = tokens[i];
    if (AllDigits(token) && token.size() <= 6 && i + 1 < tokens.size() &&
        (tokens[i + 1] == "gb" || tokens[i + 1] == "gib" || tokens[i + 1] == "g")) {
      int64_t gib = 0;
      if (absl::SimpleAtoi(token, &gib)) {
        memory_tokens.push_back(absl::StrCat(gib, "gb"));
        key_tokens.push_back(memory_tokens.back());
        out.memory_gib.push_back(gib);
        ++i;
        continue;
      }
    }
    if (IsDroppedWord(token)) continue;
    key_tokens.push_back(token);
    base_tokens.push_back(token);
  }
  out.key = Join(key_tokens);
  out.base = Join(base_tokens);
  return out;
}

double Gib(int64_t bytes) { return static_cast<double>(bytes) / kBytesPerGiB; }

// Reported memory is not more than the row has (0: unknown fits any row).
bool MemoryFits(const HardwareSpec& row, int64_t memory_bytes) {
  return memory_bytes <= 0 || Gib(memory_bytes) <= kAboveNominal * Gib(row.memory_bytes);
}

// Reported memory is what a driver reports for the row's nominal memory.
bool MemoryIsRows(const HardwareSpec& row, int64_t memory_bytes) {
  const double nominal = Gib(row.memory_bytes);
  const double reported = Gib(memory_bytes);
  return reported >= kBelowNominal * nominal && reported <= kAboveNominal * nominal;
}

std::string Where(int line, int column) {
  return absl::StrCat("hardware table line ", line, ", column ", column + 1, " (",
                      Sv(kColumns[column]), "): ");
}

// The lookup structures MatchHardware uses, built and checked once per table.
class MatchIndex {
 public:
  // Indexes `rows`, whose i-th came from line `lines[i]`; InvalidArgument
  // when two rows could be confused (see ParseHardwareTable).
  static absl::StatusOr<MatchIndex> Build(const std::vector<HardwareSpec>& rows,
                                          const std::vector<int>& lines) {
    MatchIndex index;
    struct Origin {
      size_t row;
      int column;
    };
    std::unordered_map<std::string, Origin> origins;
    for (size_t r = 0; r < rows.size(); ++r) {
      const HardwareSpec& row = rows[r];
      std::vector<std::pair<std::string_view, int>> spellings = {{row.name, kNameColumn}};
      for (const std::string& alias : row.aliases) spellings.emplace_back(alias, kAliasesColumn);
      for (const auto& [spelling, column] : spellings) {
        const NameKey key = Normalize(spelling);
        if (key.base.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(lines[r], column), "'", Sv(spelling),
                           "' has no word left to match once vendor words and memory are "
                           "dropped"));
        }
        if (column == kNameColumn) {
          for (int64_t gib : key.memory_gib) {
            if (std::abs(static_cast<double>(gib) - Gib(row.memory_bytes)) > 0.5) {
              return absl::InvalidArgumentError(
                  absl::StrCat(Where(lines[r], column), "the name says ", gib,
                               " GB but memory_gib is ", Gib(row.memory_bytes)));
            }
          }
        }
        const auto [it, inserted] = origins.try_emplace(key.key, Origin{r, column});
        if (!inserted && it->second.row != r) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(lines[r], column), "'", Sv(spelling), "' reads as '", key.key,
                           "', which is already a name or alias of line ", lines[it->second.row],
                           " (", rows[it->second.row].name, ")"));
        }
        index.exact_.try_emplace(key.key, r);
        std::vector<size_t>& variants = index.variants_[key.base];
        if (std::find(variants.begin(), variants.end(), r) == variants.end()) {
          variants.push_back(r);
        }
      }
    }
    // A name or alias must not also be what other rows are called apart from
    // their memory: "RTX 4060 Ti" as an alias of the 16 GB row would take
    // every 8 GB card reported as "RTX 4060 Ti".
    for (const auto& [key, origin] : origins) {
      const auto it = index.variants_.find(key);
      if (it == index.variants_.end()) continue;
      for (size_t other : it->second) {
        if (other == origin.row) continue;
        return absl::InvalidArgumentError(
            absl::StrCat(Where(lines[origin.row], origin.column), "'", key,
                         "' is also the name, apart from memory, of line ", lines[other], " (",
                         rows[other].name, "); give the memory to tell them apart"));
      }
    }
    // Rows that share a name apart from memory must be told apart by it.
    for (const auto& [base, variants] : index.variants_) {
      for (size_t i = 0; i < variants.size(); ++i) {
        for (size_t j = i + 1; j < variants.size(); ++j) {
          const double a = Gib(rows[variants[i]].memory_bytes);
          const double b = Gib(rows[variants[j]].memory_bytes);
          if (kAboveNominal * std::min(a, b) >= kBelowNominal * std::max(a, b)) {
            const size_t later = std::max(variants[i], variants[j]);
            const size_t earlier = std::min(variants[i], variants[j]);
            return absl::InvalidArgumentError(
                absl::StrCat(Where(lines[later], kNameColumn), "'", rows[later].name, "' and line ",
                             lines[earlier], " (", rows[earlier].name, ") are both '", base,
                             "' apart from memory, and ", a, " and ", b,
                             " GiB are too close to tell them apart"));
          }
        }
      }
    }
    return index;
  }

  const HardwareSpec* Match(const std::vector<HardwareSpec>& rows, std::string_view reported_name,
                            int64_t memory_bytes) const {
    const NameKey name = Normalize(reported_name);
    if (name.base.empty()) return nullptr;
    if (const auto it = exact_.find(name.key); it != exact_.end()) {
      // A name that states its memory ("A100-SXM4-80GB") must also be
      // reported with about that memory.
      const HardwareSpec& row = rows[it->second];
      const bool fits = name.memory_gib.empty() || memory_bytes <= 0
                            ? MemoryFits(row, memory_bytes)
                            : MemoryIsRows(row, memory_bytes);
      return fits ? &row : nullptr;
    }
    // Not a name or alias as written: the rows called `base` apart from
    // their memory, picked by the memory in the name and the memory reported.
    const auto it = variants_.find(name.base);
    if (it == variants_.end()) return nullptr;
    if (name.memory_gib.empty() && memory_bytes <= 0) return nullptr;
    const HardwareSpec* found = nullptr;
    for (size_t r : it->second) {
      const HardwareSpec& row = rows[r];
      bool fits = true;
      for (int64_t gib : name.memory_gib) {
        fits = fits && std::abs(static_cast<double>(gib) - Gib(row.memory_bytes)) <= 0.5;
      }
      if (memory_bytes > 0) fits = fits && MemoryIsRows(row, memory_bytes);
      if (!fits) continue;
      if (found != nullptr) return nullptr;
      found = &row;
    }
    return found;
  }

 private:
  std::unordered_map<std::string, size_t> exact_;  // normalized name or alias -> row
  std::unordered_map<std::string, std::vector<size_t>> variants_;  // key sans memory -> rows
};

struct ParsedTable {
  std::vector<HardwareSpec> rows;
  MatchIndex index;
};

absl::StatusOr<double> ParsePositive(std::string_view field, int line, int column) {
  double value = 0;
  if (!absl::SimpleAtod(Sv(field), &value) || !std::isfinite(value) || value <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(Where(line, column), "'", Sv(field), "' is not a positive number"));
  }
  return value;
}

bool ValidFamily(std::string_view family) {
  if (family.empty()) return false;
  for (char c : family) {
    if (!IsLower(c) && !IsDigit(c) && c != '-') return false;
  }
  return true;
}

absl::StatusOr<ParsedTable> ParseTable(std::string_view csv) {
  ParsedTable table;
  std::vector<int> lines;
  bool have_header = false;
  int line = 0;
  for (std::string_view text : Split(csv, '\n')) {
    ++line;
    text = StripWhitespace(text);
    if (text.empty() || text.front() == '#') continue;
    if (!have_header) {
      if (text != kHardwareTableHeader) {
        return absl::InvalidArgumentError(absl::StrCat("hardware table line ", line,
                                                       ": expected the header '",
                                                       Sv(kHardwareTableHeader), "'"));
      }
      have_header = true;
      continue;
    }
    std::vector<std::string_view> fields = Split(text, ',');
    if (fields.size() != kColumnCount) {
      return absl::InvalidArgumentError(absl::StrCat("hardware table line ", line, ": ",
                                                     fields.size(), " fields, the header has ",
                                                     kColumnCount));
    }
    for (std::string_view& field : fields) field = StripWhitespace(field);
    for (int column : {0, 1, 2, 7}) {
      if (fields[column].empty()) {
        return absl::InvalidArgumentError(absl::StrCat(Where(line, column), "empty"));
      }
    }
    if (!ValidFamily(fields[2])) {
      return absl::InvalidArgumentError(absl::StrCat(Where(line, 2), "'", Sv(fields[2]),
                                                     "' is not lowercase letters, digits and '-'"));
    }
    HardwareSpec row;
    row.name = std::string(fields[0]);
    row.vendor = std::string(fields[1]);
    row.family = std::string(fields[2]);
    absl::StatusOr<double> memory_gib = ParsePositive(fields[3], line, 3);
    if (!memory_gib.ok()) return memory_gib.status();
    absl::StatusOr<double> bandwidth_gbs = ParsePositive(fields[4], line, 4);
    if (!bandwidth_gbs.ok()) return bandwidth_gbs.status();
    absl::StatusOr<double> fp16_tflops = ParsePositive(fields[5], line, 5);
    if (!fp16_tflops.ok()) return fp16_tflops.status();
    row.memory_bytes = std::llround(*memory_gib * kBytesPerGiB);
    row.memory_bandwidth = *bandwidth_gbs * 1e9;
    row.fp16_flops = *fp16_tflops * 1e12;
    if (!fields[6].empty()) {
      for (std::string_view alias : Split(fields[6], '|')) {
        alias = StripWhitespace(alias);
        if (alias.empty()) {
          return absl::InvalidArgumentError(
              absl::StrCat(Where(line, kAliasesColumn), "empty alias in '", Sv(fields[6]), "'"));
        }
        row.aliases.emplace_back(alias);
      }
    }
    row.source = std::string(fields[7]);
    table.rows.push_back(std::move(row));
    lines.push_back(line);
  }
  if (!have_header) {
    return absl::InvalidArgumentError(
        absl::StrCat("hardware table: no header '", Sv(kHardwareTableHeader), "'"));
  }
  if (table.rows.empty()) return absl::InvalidArgumentError("hardware table: no rows");
  absl::StatusOr<MatchIndex> index = MatchIndex::Build(table.rows, lines);
  if (!index.ok()) return index.status();
  table.index = *std::move(index);
  return table;
}

// The embedded table and its index, parsed on first use and kept for the
// life of the process.
const ParsedTable& Embedded() {
  static const ParsedTable* const table = [] {
    absl::StatusOr<ParsedTable> parsed = ParseTable(HardwareTableCsv());
    if (!parsed.ok()) {
      std::fprintf(stderr, "aiscore: the embedded scoring/data/hardware.csv is broken: %s\n",
                   std::string(parsed.status().message()).c_str());
      std::abort();
    }
    return new ParsedTable(*std::move(parsed));
  }();
  return *table;
}

// Removes "(R)", "(TM)" in any case, "®" and "™"; the marks become spaces.
std::string RemoveTrademarks(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (size_t i = 0; i < name.size();) {
    const std::string_view rest = name.substr(i);
    if (absl::StartsWithIgnoreCase(Sv(rest), "(r)")) {
      out.push_back(' ');
      i += 3;
    } else if (absl::StartsWithIgnoreCase(Sv(rest), "(tm)")) {
      out.push_back(' ');
      i += 4;
    } else if (rest.starts_with("\xC2\xAE")) {  // ®
      out.push_back(' ');
      i += 2;
    } else if (rest.starts_with("\xE2\x84\xA2")) {  // ™
      out.push_back(' ');
      i += 3;
    } else {
      out.push_back(name[i]);
      ++i;
    }
  }
  return out;
}

bool IsVendorWord(std::string_view word) {
  for (std::string_view vendor : kVendorWords) {
    if (absl::EqualsIgnoreCase(Sv(word), Sv(vendor))) return true;
  }
  return false;
}

}  // namespace

absl::StatusOr<std::vector<HardwareSpec>> ParseHardwareTable(std::string_view csv) {
  absl::StatusOr<ParsedTable> table = ParseTable(csv);
  if (!table.ok()) return table.status();
  return std::move(table->rows);
}

const std::vector<HardwareSpec>& HardwareTable() { return Embedded().rows; }

const HardwareSpec* MatchHardware(std::string_view reported_name, int64_t memory_bytes) {
  const ParsedTable& table = Embedded();
  return table.index.Match(table.rows, reported_name, memory_bytes);
}

std::string CanonicalDeviceName(std::string_view reported_name, int64_t memory_bytes) {
  if (const HardwareSpec* row = MatchHardware(reported_name, memory_bytes)) return row->name;
  const std::string cleaned = RemoveTrademarks(reported_name);
  std::vector<std::string_view> words = Words(cleaned);
  size_t first = 0;
  while (first < words.size() && IsVendorWord(words[first])) ++first;
  if (first == words.size()) return "unknown";
  words.erase(words.begin(), words.begin() + first);
  std::string name = Join(words);
  if (memory_bytes > 0) {
    absl::StrAppend(&name, " (", std::llround(Gib(memory_bytes)), " GB)");
  }
  return name;
}

}  // namespace aiscore
