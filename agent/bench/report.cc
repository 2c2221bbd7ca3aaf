#include "agent/bench/report.h"

#include <algorithm>
#include <functional>
#include <map>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "agent/engine/speculative.h"
#include "google/protobuf/util/json_util.h"
#include "suites/suite_loader.h"

namespace aiscore {
namespace {

// One line of a report: a measurement of a case, or a case that has none.
struct Row {
  const v1::RunResult& run;
  const v1::CaseResult& c;
  const v1::Measurement* m;  // null for a case without measurements
};

struct Column {
  std::string_view name;
  std::function<std::string(const Row&)> csv;    // exact value
  std::function<std::string(const Row&)> table;  // for people; null: not in the table
};

std::string Exact(double x) { return absl::StrFormat("%.17g", x); }

std::string ModelName(const Row& r) { return r.c.model(); }

std::string Result(const Row& r) {
  if (r.m == nullptr) {
    return r.c.reason().empty() ? CaseStatusName(r.c.status())
                                : absl::StrCat(CaseStatusName(r.c.status()), ": ", r.c.reason());
  }
  const std::string unit = UnitSymbol(r.m->unit());
  if (r.m->unit() == v1::UNIT_SECONDS) {
    return absl::StrFormat("%.4g ± %.2g %s", r.m->median(), r.m->stddev(), unit);
  }
  return absl::StrFormat("%.2f ± %.2f %s", r.m->median(), r.m->stddev(), unit);
}

const std::vector<Column>& Columns() {
  static const std::vector<Column> kColumns = {
      {"suite", [](const Row& r) { return r.run.suite().name(); }, nullptr},
      {"case", [](const Row& r) { return r.c.name(); }, nullptr},
      {"model", [](const Row& r) { return ModelName(r); },
       [](const Row& r) { return ModelName(r); }},
      {"format", [](const Row& r) { return r.c.format(); },
       [](const Row& r) { return r.c.format(); }},
      {"weights_bytes", [](const Row& r) { return absl::StrCat(r.c.weights_bytes()); },
       [](const Row& r) {
         const double b = static_cast<double>(r.c.weights_bytes());
         return b >= 1073741824.0 ? absl::StrFormat("%.2f GiB", b / 1073741824.0)
                                  : absl::StrFormat("%.1f MiB", b / 1048576.0);
       }},
      {"backend", [](const Row& r) { return r.run.backend().name(); },
       [](const Row& r) { return r.run.backend().name(); }},
      {"threads", [](const Row& r) { return absl::StrCat(r.run.backend().threads()); },
       [](const Row& r) { return absl::StrCat(r.run.backend().threads()); }},
      {"status", [](const Row& r) { return v1::CaseStatus_Name(r.c.status()); }, nullptr},
      {"reason", [](const Row& r) { return r.c.reason(); }, nullptr},
      {"test", [](const Row& r) { return r.m ? r.m->name() : std::string(); },
       [](const Row& r) { return r.m ? r.m->name() : std::string("-"); }},
      {"unit", [](const Row& r) { return r.m ? UnitSymbol(r.m->unit()) : std::string(); }, nullptr},
      {"median", [](const Row& r) { return r.m ? Exact(r.m->median()) : std::string(); },
       [](const Row& r) { return Result(r); }},
      {"min", [](const Row& r) { return r.m ? Exact(r.m->min()) : std::string(); }, nullptr},
      {"max", [](const Row& r) { return r.m ? Exact(r.m->max()) : std::string(); }, nullptr},
      {"stddev", [](const Row& r) { return r.m ? Exact(r.m->stddev()) : std::string(); }, nullptr},
      {"n", [](const Row& r) { return r.m ? absl::StrCat(r.m->samples_size()) : std::string(); },
       nullptr},
      {"samples",
       [](const Row& r) {
         if (r.m == nullptr) return std::string();
         std::vector<std::string> v;
         for (double x : r.m->samples()) v.push_back(Exact(x));
         return absl::StrJoin(v, ";");
       },
       nullptr},
  };
  return kColumns;
}

std::vector<Row> Rows(const v1::RunResult& run) {
  std::vector<Row> rows;
  for (const v1::CaseResult& c : run.cases()) {
    if (c.measurements().empty()) rows.push_back({run, c, nullptr});
    for (const v1::Measurement& m : c.measurements()) rows.push_back({run, c, &m});
  }
  return rows;
}

// RFC 4180: quote a field holding a comma, quote or line break.
std::string CsvField(const std::string& s) {
  if (s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char ch : s) {
    if (ch == '"') q += '"';
    q += ch;
  }
  return q + "\"";
}

// Width on a terminal: UTF-8 code points ("±" is two bytes, one column).
size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char ch : s) n += (ch & 0xC0) != 0x80;
  return n;
}

std::string MarkdownCell(std::string s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += '\\';
    out += ch == '\n' ? ' ' : ch;
  }
  return out;
}

// A markdown table, columns padded to their widest cell.
std::string Markdown(const std::vector<std::string>& header,
                     const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::vector<std::string>> cells = {header};
  for (const auto& row : rows) {
    std::vector<std::string> line;
    for (const std::string& cell : row) line.push_back(MarkdownCell(cell));
    cells.push_back(std::move(line));
  }
  std::vector<size_t> width(header.size());
  for (const auto& line : cells) {
    for (size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], CodePoints(line[i]));
  }
  auto print = [&](const std::vector<std::string>& line) {
    std::string out = "|";
    for (size_t i = 0; i < line.size(); ++i) {
      out += ' ';
      out += line[i];
      out.append(width[i] - CodePoints(line[i]), ' ');
      out += " |";
    }
    return out + "\n";
  };
  std::string out = print(cells[0]);
  out += "|";
  for (size_t w : width) {
    out += ' ';
    out.append(w, '-');
    out += " |";
  }
  out += "\n";
  for (size_t i = 1; i < cells.size(); ++i) out += print(cells[i]);
  return out;
}

}  // namespace

std::string FormatTable(const v1::RunResult& run) {
  std::vector<const Column*> cols;
  for (const Column& c : Columns()) {
    if (c.table) cols.push_back(&c);
  }
  std::vector<std::string> header;
  for (const Column* c : cols) {
    header.emplace_back(c->name == "median" ? "result" : std::string(c->name));
  }
  std::vector<std::vector<std::string>> cells;
  for (const Row& r : Rows(run)) {
    std::vector<std::string> line;
    for (const Column* c : cols) line.push_back(c->table(r));
    cells.push_back(std::move(line));
  }
  return Markdown(header, cells);
}

std::string FormatSpeculative(const v1::RunResult& run, const v1::SuiteSpec& suite) {
  if (run.suite().name() != suite.name()) return "";
  static constexpr double kAlphas[] = {0.5, 0.6, 0.7, 0.8, 0.9, 1.0};
  const std::vector<v1::MetricKind> needed = {
      v1::METRIC_KIND_COST_RATIO, v1::METRIC_KIND_VERIFY_RATIO, v1::METRIC_KIND_SPEEDUP,
      v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE, v1::METRIC_KIND_REALIZED_ACCEPTANCE};
  std::vector<std::string> header = {"case",       "k",        "c",         "v",
                                     "break-even", "measured", "predicted", "at run's a"};
  for (double a : kAlphas) header.push_back(absl::StrFormat("a=%.1f", a));
  std::vector<std::vector<std::string>> cells;
  for (const v1::CaseResult& c : run.cases()) {
    const v1::Workload* w = nullptr;
    for (const v1::Workload& x : suite.workloads()) {
      if (x.name() == c.workload() && x.kind() == v1::WORKLOAD_KIND_SPECULATIVE) w = &x;
    }
    if (w == nullptr || c.status() != v1::CASE_STATUS_OK) continue;
    std::map<v1::MetricKind, double> median;
    for (const v1::Measurement& m : c.measurements()) median[m.kind()] = m.median();
    bool complete = true;
    for (v1::MetricKind kind : needed) complete &= median.count(kind) > 0;
    if (!complete) continue;
    const int64_t k = w->draft_tokens();
    const double cost = median[v1::METRIC_KIND_COST_RATIO];
    const double verify = median[v1::METRIC_KIND_VERIFY_RATIO];
    const double break_even = median[v1::METRIC_KIND_BREAK_EVEN_ACCEPTANCE];
    const double realized = median[v1::METRIC_KIND_REALIZED_ACCEPTANCE];
    // One line with verification costing one target step (Leviathan et al.),
    // one with the measured verification cost.
    for (const bool leviathan : {true, false}) {
      const double v = leviathan ? 1.0 : verify;
      std::vector<std::string> line(6);
      if (leviathan) {
        line = {c.name(),
                absl::StrCat(k),
                absl::StrFormat("%.3f", cost),
                absl::StrFormat("%.2f", verify),
                break_even >= 1 ? std::string("never pays") : absl::StrFormat("%.2f", break_even),
                absl::StrFormat("%.2fx at a=%.2f", median[v1::METRIC_KIND_SPEEDUP], realized)};
      }
      line.push_back(leviathan ? std::string("v=1") : absl::StrFormat("v=%.2f", v));
      line.push_back(absl::StrFormat("%.2fx", SpeculativeSpeedup(k, realized, cost, v)));
      for (double a : kAlphas) {
        line.push_back(absl::StrFormat("%.2fx", SpeculativeSpeedup(k, a, cost, v)));
      }
      cells.push_back(std::move(line));
    }
  }
  if (cells.empty()) return "";
  return absl::StrCat(
      "Speculative decoding: speedup over plain decoding at the same depth, measured at the "
      "acceptance rate a the run realized. Predicted: (1 - a^(k+1)) / ((1 - a)(k c + v)), c = "
      "draft step / target step, v = verification / target step (v=1: Leviathan et al. 2023); "
      "break-even with the measured v.\n\n",
      Markdown(header, cells));
}

std::vector<std::string> CsvColumns() {
  std::vector<std::string> names;
  for (const Column& c : Columns()) names.emplace_back(c.name);
  return names;
}

std::string FormatCsv(const v1::RunResult& run) {
  std::string out = absl::StrJoin(CsvColumns(), ",") + "\n";
  for (const Row& r : Rows(run)) {
    std::vector<std::string> fields;
    for (const Column& c : Columns()) fields.push_back(CsvField(c.csv(r)));
    out += absl::StrJoin(fields, ",") + "\n";
  }
  return out;
}

absl::StatusOr<std::string> FormatJson(const v1::RunResult& run) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  options.preserve_proto_field_names = true;
  std::string json;
  const auto status = google::protobuf::util::MessageToJsonString(run, &json, options);
  if (!status.ok()) return absl::InternalError(std::string(status.message()));
  return json;
}

absl::StatusOr<v1::RunResult> ParseJson(std::string_view json) {
  v1::RunResult run;
  const auto status = google::protobuf::util::JsonStringToMessage(std::string(json), &run);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("not a RunResult in JSON: ", std::string(status.message())));
  }
  return run;
}

}  // namespace aiscore
