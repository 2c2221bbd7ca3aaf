// ParseExposition: a strict reader of the Prometheus text exposition format
// 0.0.4, for tests of what /metrics serves. It accepts exactly:
//   # HELP <name> <text>          (text escapes: \\ and \n)
//   # TYPE <name> counter|gauge|histogram|summary|untyped
//   <name>[{<label>="<value>",...}] <value>
// with metric names [a-zA-Z_:][a-zA-Z0-9_:]*, label names
// [a-zA-Z_][a-zA-Z0-9_]*, label values escaping only \\ \" \n, values as Go's
// ParseFloat reads them (NaN, +Inf, -Inf too), every line ending in "\n", and
// no blank lines. Beyond syntax it checks the family rules: one HELP and one
// TYPE per family, TYPE before the family's samples, a family's samples
// together, a histogram's samples only _bucket (with `le`), _sum and _count.
//
// Stateless; header-only; thread-compatible.
#ifndef AISCORE_TESTS_COLLECTOR_HTTP_EXPOSITION_PARSER_H_
#define AISCORE_TESTS_COLLECTOR_HTTP_EXPOSITION_PARSER_H_

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace aiscore::testing {

struct ExpositionSample {
  std::string name;                           // "aiscore_rpc_total"
  std::map<std::string, std::string> labels;  // unescaped values
  double value = 0;
};

struct Exposition {
  std::map<std::string, std::string> types;  // family -> TYPE
  std::map<std::string, std::string> help;   // family -> HELP text
  std::vector<ExpositionSample> samples;     // in order
  std::string error;                         // empty when the text is valid

  // The sample named `name` whose labels are exactly `labels`; nullptr if none.
  const ExpositionSample* Find(const std::string& name,
                               const std::map<std::string, std::string>& labels = {}) const {
    for (const ExpositionSample& s : samples) {
      if (s.name == name && s.labels == labels) return &s;
    }
    return nullptr;
  }
};

namespace exposition_internal {

inline bool IsNameStart(char c, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':');
}
inline bool IsNameChar(char c, bool colon) {
  return IsNameStart(c, colon) || (c >= '0' && c <= '9');
}

// Reads a name at the front of *text; empty when there is none.
inline std::string TakeName(std::string_view* text, bool colon) {
  size_t n = 0;
  if (text->empty() || !IsNameStart((*text)[0], colon)) return "";
  while (n < text->size() && IsNameChar((*text)[n], colon)) ++n;
  std::string name(text->substr(0, n));
  text->remove_prefix(n);
  return name;
}

inline bool ParseValue(std::string_view text, double* value) {
  if (text == "NaN") {
    *value = std::nan("");
    return true;
  }
  if (text == "+Inf" || text == "-Inf") {
    *value = text[0] == '+' ? HUGE_VAL : -HUGE_VAL;
    return true;
  }
  if (text.empty()) return false;
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || c == '.' || c == 'e' || c == 'E' || c == '+' || c == '-')) {
      return false;
    }
  }
  const std::string copy(text);
  char* end = nullptr;
  *value = std::strtod(copy.c_str(), &end);
  return end == copy.c_str() + copy.size();
}

// The family a sample belongs to, given the declared types.
inline std::string FamilyOf(const std::string& name,
                            const std::map<std::string, std::string>& types) {
  if (types.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string_view s(suffix);
    if (name.size() > s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0) {
      const std::string base = name.substr(0, name.size() - s.size());
      const auto it = types.find(base);
      if (it != types.end() && (it->second == "histogram" || it->second == "summary")) return base;
    }
  }
  return name;
}

}  // namespace exposition_internal

inline Exposition ParseExposition(std::string_view text) {
  using namespace exposition_internal;
  Exposition out;
  std::set<std::string> finished_families;
  std::string current_family;
  size_t line_number = 0;
  const auto fail = [&](const std::string& why) {
    out.error = "line " + std::to_string(line_number) + ": " + why;
    return out;
  };
  if (!text.empty() && text.back() != '\n') {
    ++line_number;
    return fail("text does not end with a newline");
  }
  while (!text.empty()) {
    ++line_number;
    const size_t newline = text.find('\n');
    std::string_view line = text.substr(0, newline);
    text.remove_prefix(newline + 1);
    if (line.empty()) return fail("blank line");

    if (line[0] == '#') {
      const bool is_help = line.starts_with("# HELP ");
      const bool is_type = line.starts_with("# TYPE ");
      if (!is_help && !is_type) return fail("comment other than HELP or TYPE");
      line.remove_prefix(7);
      const std::string name = TakeName(&line, true);
      if (name.empty()) return fail("bad metric name in a comment");
      if (finished_families.count(name)) return fail("family " + name + " is split");
      if (is_help) {
        if (!line.starts_with(' ')) return fail("HELP without text");
        std::string_view help = line.substr(1);
        for (size_t i = 0; i < help.size(); ++i) {
          if (help[i] == '\\' &&
              (i + 1 == help.size() || (help[i + 1] != '\\' && help[i + 1] != 'n'))) {
            return fail("bad escape in HELP");
          }
          if (help[i] == '\\') ++i;
        }
        if (!out.help.emplace(name, std::string(help)).second)
          return fail("second HELP for " + name);
      } else {
        if (!line.starts_with(' ')) return fail("TYPE without a type");
        const std::string type(line.substr(1));
        if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
            type != "untyped") {
          return fail("unknown type " + type);
        }
        if (out.types.count(name)) return fail("second TYPE for " + name);
        out.types.emplace(name, type);
      }
      if (current_family != name) {
        if (!current_family.empty()) finished_families.insert(current_family);
        current_family = name;
      }
      continue;
    }

    ExpositionSample sample;
    sample.name = TakeName(&line, true);
    if (sample.name.empty()) return fail("bad metric name");
    if (!line.empty() && line[0] == '{') {
      line.remove_prefix(1);
      while (true) {
        if (!line.empty() && line[0] == '}') {
          line.remove_prefix(1);
          break;
        }
        const std::string label = TakeName(&line, false);
        if (label.empty()) return fail("bad label name");
        if (!line.starts_with("=\"")) return fail("label without =\"");
        line.remove_prefix(2);
        std::string value;
        while (true) {
          if (line.empty()) return fail("unterminated label value");
          const char c = line[0];
          line.remove_prefix(1);
          if (c == '"') break;
          if (c == '\n') return fail("raw newline in a label value");
          if (c == '\\') {
            if (line.empty()) return fail("dangling backslash");
            const char e = line[0];
            line.remove_prefix(1);
            if (e == '\\')
              value += '\\';
            else if (e == '"')
              value += '"';
            else if (e == 'n')
              value += '\n';
            else
              return fail("bad escape in a label value");
          } else {
            value += c;
          }
        }
        if (!sample.labels.emplace(label, value).second) return fail("repeated label " + label);
        if (!line.empty() && line[0] == ',') {
          line.remove_prefix(1);
        } else if (line.empty() || line[0] != '}') {
          return fail("expected , or } after a label");
        }
      }
    }
    if (!line.starts_with(' ')) return fail("no space before the value");
    line.remove_prefix(1);
    if (!ParseValue(line, &sample.value)) return fail("bad value \"" + std::string(line) + "\"");

    const std::string family = FamilyOf(sample.name, out.types);
    const auto type = out.types.find(family);
    if (type == out.types.end()) return fail("sample " + sample.name + " before its TYPE");
    if (family != current_family) return fail("sample " + sample.name + " outside its family");
    if (type->second == "histogram") {
      if (sample.name == family) return fail("histogram sample without a suffix");
      if ((sample.name == family + "_bucket") != (sample.labels.count("le") == 1)) {
        return fail("le label on a non-bucket sample or missing on a bucket");
      }
    }
    out.samples.push_back(std::move(sample));
  }
  return out;
}

}  // namespace aiscore::testing

#endif  // AISCORE_TESTS_COLLECTOR_HTTP_EXPOSITION_PARSER_H_
