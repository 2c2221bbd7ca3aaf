// GET /: the leaderboard (pages.h).
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/web/html.h"
#include "collector/web/pages.h"
#include "collector/web/svg_chart.h"
#include "suites/suite_loader.h"

namespace aiscore::collector::web {
namespace {

struct SortChoice {
  const char* param;  // the query value
  const char* label;
  v1::LeaderboardSort sort;
};
constexpr SortChoice kSorts[] = {
    {"median", "Median score", v1::LEADERBOARD_SORT_MEDIAN_SCORE},
    {"best", "Best score", v1::LEADERBOARD_SORT_BEST_SCORE},
    {"results", "Results", v1::LEADERBOARD_SORT_RESULTS},
    {"name", "Name", v1::LEADERBOARD_SORT_NAME},
};

// <option>s of `values` with `selected` marked; labels default to the values.
std::string Options(const std::vector<std::pair<std::string, std::string>>& values,
                    const std::string& selected) {
  std::string out;
  for (const auto& [value, label] : values) {
    absl::StrAppend(&out, "<option value=\"", Escape(value), "\"",
                    value == selected ? " selected" : "", ">", Escape(label), "</option>");
  }
  return out;
}

}  // namespace

HttpResponse LeaderboardPage(const Site& site, const HttpRequest& request) {
  const std::string suite = Param(request, "suite", kDefaultSuite);
  const std::string name = Param(request, "name");
  const std::string backend = absl::AsciiStrToLower(Param(request, "backend"));
  const std::string format = absl::AsciiStrToLower(Param(request, "format"));
  const std::string sort = Param(request, "sort", "median");
  const std::string page_text = Param(request, "page", "1");
  const std::string size_text = Param(request, "size", "25");

  const SortChoice* sort_choice = nullptr;
  for (const SortChoice& s : kSorts) {
    if (sort == s.param) sort_choice = &s;
  }
  if (sort_choice == nullptr) {
    return ErrorPage(400, "sort must be one of median, best, results, name; got '" + sort + "'");
  }
  int page = 0, size = 0;
  if (!absl::SimpleAtoi(page_text, &page) || page < 1 || page > 1000000) {
    return ErrorPage(400, "page must be a whole number from 1; got '" + page_text + "'");
  }
  if (!absl::SimpleAtoi(size_text, &size) || size < 1 || size > kMaxPageSize) {
    return ErrorPage(400, absl::StrCat("size must be a whole number from 1 to ", kMaxPageSize,
                                       "; got '", size_text, "'"));
  }

  v1::GetLeaderboardRequest read;
  read.set_suite(suite);
  read.set_gpu_filter(name);
  read.set_backend(backend);
  read.set_format(format);
  read.set_sort(sort_choice->sort);
  read.set_page_size(size);
  read.set_page_token(absl::StrCat(int64_t{page - 1} * size));
  v1::GetLeaderboardResponse board;
  if (grpc::Status s = site.service->ReadLeaderboard(read, &board); !s.ok()) {
    return ErrorPage(HttpStatusOf(s.error_code()), s.error_message());
  }

  // The query of this page with some parameters changed.
  auto link = [&](std::vector<std::pair<std::string, std::string>> changes) {
    std::vector<std::pair<std::string, std::string>> params = {
        {"suite", suite == kDefaultSuite ? "" : suite},
        {"name", name},
        {"backend", backend},
        {"format", format},
        {"sort", sort == "median" ? "" : sort},
        {"size", size == 25 ? "" : size_text},
        {"page", page == 1 ? "" : page_text}};
    for (const auto& [k, v] : changes) {
      for (auto& p : params) {
        if (p.first == k) p.second = v;
      }
    }
    return Escape(absl::StrCat("/", QueryString(params)));
  };

  std::vector<std::pair<std::string, std::string>> formats = {{"", "all formats"}};
  if (absl::StatusOr<LoadedSuite> loaded = LoadBuiltInSuite(suite); loaded.ok()) {
    for (const std::string& f : loaded->spec.formats()) formats.emplace_back(f, f);
  }
  std::string body = absl::StrCat("<h1>AI System Score: suite ", Escape(suite), "</h1>");
  absl::StrAppend(
      &body, "<form class=\"filters\" method=\"get\" action=\"/\">",
      suite == kDefaultSuite
          ? ""
          : absl::StrCat("<input type=\"hidden\" name=\"suite\" value=\"", Escape(suite), "\">"),
      "<label>GPU name<input type=\"search\" name=\"name\" value=\"", Escape(name),
      "\" placeholder=\"4090\"></label><label>Backend<select name=\"backend\">",
      Options({{"", "all"}, {"cuda", "cuda"}, {"cpu", "cpu"}}, backend),
      "</select></label><label>Format<select name=\"format\">", Options(formats, format),
      "</select></label><label>Sort<select name=\"sort\">");
  for (const SortChoice& s : kSorts) {
    absl::StrAppend(&body, "<option value=\"", s.param, "\"", sort == s.param ? " selected" : "",
                    ">", s.label, "</option>");
  }
  absl::StrAppend(&body,
                  "</select></label><button type=\"submit\" id=\"apply\">Apply</button></form>");

  if (board.entries().empty()) {
    absl::StrAppend(&body, "<p id=\"empty\">No ranked results",
                    name.empty() && backend.empty() ? "" : " match these filters",
                    " yet. Run <code>aiscore run --suite ", Escape(suite),
                    " --submit</code> to add yours.</p>");
    return HtmlPage("Leaderboard", body);
  }

  double axis_max = 0;
  for (const v1::LeaderboardEntry& e : board.entries())
    axis_max = std::max(axis_max, e.p75_score());
  const bool sub_scores = format.empty();  // a format's board keeps no sub-score medians
  auto sort_header = [&](const char* param, const char* label, const char* cls) {
    return absl::StrCat("<th class=\"", cls, "\"><a href=\"", link({{"sort", param}, {"page", ""}}),
                        "\">", label, sort == param ? " \xE2\x96\xBE" : "", "</a></th>");
  };
  absl::StrAppend(
      &body, "<div class=\"scroll\"><table id=\"leaderboard\"><thead><tr><th class=\"num\">#</th>",
      sort_header("name", "GPU", ""), "<th>Backend</th>",
      sort_header("median", "Median score", "num"), "<th>25th to 75th percentile</th>",
      sort_header("results", "Results", "num"));
  if (sub_scores) {
    absl::StrAppend(&body,
                    "<th class=\"num\">Prefill</th><th class=\"num\">Decode</th><th "
                    "class=\"num\">Latency</th><th class=\"num\">Long context</th><th "
                    "class=\"num\">Speculative</th><th class=\"num\">Capacity</th>");
  }
  absl::StrAppend(&body, sort_header("best", "Best", "num"), "</tr></thead><tbody>");
  for (const v1::LeaderboardEntry& e : board.entries()) {
    absl::StrAppend(&body, "<tr><td class=\"num rank\">", e.rank(),
                    "</td><td class=\"gpu\"><a href=\"", Escape(GpuPath(e.gpu(), e.backend())),
                    "\">", Escape(e.gpu()), "</a></td><td class=\"backend\">", Escape(e.backend()),
                    "</td><td class=\"num median\">", FormatNumber(e.median_score(), 1),
                    "</td><td class=\"range\">",
                    RangeSvg(e.median_score(), e.p25_score(), e.p75_score(), axis_max),
                    "<span class=\"muted p25\">", FormatNumber(e.p25_score(), 1),
                    "</span> to <span class=\"muted p75\">", FormatNumber(e.p75_score(), 1),
                    "</span></td><td class=\"num results\">", e.results(), "</td>");
    if (sub_scores) {
      const v1::SubScores& m = e.median_sub_scores();
      for (double v : {m.prefill(), m.decode(), m.latency(), m.long_context(), m.speculative()}) {
        absl::StrAppend(&body, "<td class=\"num sub\">", FormatNumber(v, 1), "</td>");
      }
      absl::StrAppend(&body, "<td class=\"num capacity\">", FormatNumber(m.capacity() * 100, 0),
                      "%</td>");
    }
    absl::StrAppend(&body, "<td class=\"num best\"><a href=\"",
                    Escape(ResultPath(e.best_result_id())), "\">", FormatNumber(e.best_score(), 1),
                    "</a></td></tr>");
  }
  const int64_t pages = (board.total_entries() + size - 1) / size;
  absl::StrAppend(&body, "</tbody></table></div><div class=\"pager\"><span id=\"page-info\">Page ",
                  page, " of ", pages, " (", board.total_entries(), " GPUs)</span>");
  if (page > 1) {
    absl::StrAppend(&body, "<a id=\"prev\" rel=\"prev\" href=\"",
                    link({{"page", page == 2 ? "" : absl::StrCat(page - 1)}}), "\">Previous</a>");
  }
  if (!board.next_page_token().empty()) {
    absl::StrAppend(&body, "<a id=\"next\" rel=\"next\" href=\"",
                    link({{"page", absl::StrCat(page + 1)}}), "\">Next</a>");
  }
  absl::StrAppend(&body,
                  "</div><p class=\"muted\">Scores are 1000 &times; the geometric mean of the "
                  "suite's measured-to-reference ratios (docs/scoring.md); each row aggregates "
                  "the ranked results of one GPU model and backend.</p>");
  return HtmlPage("Leaderboard", body);
}

}  // namespace aiscore::collector::web
