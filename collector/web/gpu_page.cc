// GET /gpu/NAME: one GPU model (pages.h).
#include <algorithm>
#include <cmath>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/web/html.h"
#include "collector/web/pages.h"
#include "collector/web/svg_chart.h"
#include "scoring/hardware_table.h"
#include "scoring/model_presets.h"
#include "suites/suite_loader.h"

namespace aiscore::collector::web {
namespace {

constexpr char kGpuPrefix[] = "/gpu/";

// The first generate workload of the suite (the chat workload of v1): the
// one whose decode and prefill figures the page compares per format.
const v1::Workload* ChatWorkload(const v1::SuiteSpec& suite) {
  for (const v1::Workload& w : suite.workloads()) {
    if (w.kind() == v1::WORKLOAD_KIND_GENERATE) return &w;
  }
  return nullptr;
}

const v1::MetricSpec* MetricOfKind(const v1::Workload& w, v1::MetricKind kind) {
  for (const v1::MetricSpec& m : w.metrics()) {
    if (m.kind() == kind) return &m;
  }
  return nullptr;
}

double ReferenceOf(const v1::MetricSpec& metric, const std::string& format) {
  for (const v1::Reference& r : metric.references()) {
    if (r.format() == format) return r.value();
  }
  return NAN;
}

// Decode and prefill of one workload per format: measured median, prediction
// and the reference device, as a table and a chart.
std::string SpeedSection(const Site& site, const std::string& gpu, const v1::SuiteSpec& suite,
                         const std::map<std::pair<std::string, std::string>, double>& measured) {
  const v1::Workload* chat = ChatWorkload(suite);
  if (chat == nullptr) return "";
  const v1::MetricSpec* decode = MetricOfKind(*chat, v1::METRIC_KIND_DECODE_RATE);
  const v1::MetricSpec* prefill = MetricOfKind(*chat, v1::METRIC_KIND_PREFILL_RATE);
  const v1::ModelShape* model = FindModel(suite, chat->model());
  if (decode == nullptr || model == nullptr) return "";
  std::vector<std::string> formats(suite.formats().begin(), suite.formats().end());
  BarSeries m{"measured (median)", "#2357c6", {}}, p{"predicted", "#e39b28", {}},
      r{"reference device", "#9aa3b2", {}};
  std::string rows;
  std::string prediction_error;
  for (const std::string& f : formats) {
    auto find = [&](const v1::MetricSpec* metric) -> double {
      if (metric == nullptr) return NAN;
      auto it = measured.find({CaseName(chat->name(), f), metric->name()});
      return it == measured.end() ? NAN : it->second;
    };
    const double decode_measured = find(decode), prefill_measured = find(prefill);
    v1::PredictRequest ask;
    ask.mutable_gpu()->set_name(gpu);
    *ask.mutable_model()->mutable_shape() = *model;
    ask.set_format(f);
    ask.set_context_tokens(chat->prompt_tokens() + chat->generate_tokens());
    v1::PredictResponse answer;
    double decode_predicted = NAN, prefill_predicted = NAN, error = NAN;
    if (grpc::Status s = site.service->ReadPrediction(ask, &answer); s.ok()) {
      decode_predicted = answer.decode_tokens_per_second().value();
      prefill_predicted = answer.prefill_tokens_per_second().value();
      if (answer.decode_tokens_per_second().error_measured()) {
        error = answer.decode_tokens_per_second().relative_error();
      }
    } else if (prediction_error.empty()) {
      prediction_error = s.error_message();
    }
    const double decode_reference = ReferenceOf(*decode, f);
    m.values.push_back(decode_measured);
    p.values.push_back(decode_predicted);
    r.values.push_back(decode_reference);
    absl::StrAppend(
        &rows, "<tr data-format=\"", Escape(f), "\"><td>", Escape(f),
        "</td><td class=\"num decode-measured\">", FormatNumber(decode_measured, 1),
        "</td><td class=\"num\">", FormatNumber(decode_predicted, 1),
        std::isfinite(error) ? absl::StrCat(" &plusmn;", FormatNumber(error * 100, 0), "%") : "",
        "</td><td class=\"num\">", FormatNumber(decode_reference, 1), "</td><td class=\"num\">",
        FormatNumber(decode_measured / decode_reference, 2), "&times;</td><td class=\"num\">",
        FormatNumber(prefill_measured, 0), "</td><td class=\"num\">",
        FormatNumber(prefill_predicted, 0), "</td><td class=\"num\">",
        prefill == nullptr ? "" : FormatNumber(ReferenceOf(*prefill, f), 0), "</td></tr>");
  }
  std::string out = absl::StrCat(
      "<h2>Speed per format: ", Escape(chat->name()), " (", Escape(model->name()), ", ",
      chat->prompt_tokens(), "-token prompt, ", chat->generate_tokens(), " generated)</h2>",
      GroupedBarsSvg(formats, {m, p, r}, "decode tokens/s"),
      "<table id=\"speed\"><thead><tr><th>Format</th><th class=\"num\">Decode tok/s "
      "measured</th><th class=\"num\">predicted</th><th class=\"num\">reference "
      "device</th><th class=\"num\">measured / reference</th><th class=\"num\">Prefill tok/s "
      "measured</th><th class=\"num\">predicted</th><th class=\"num\">reference "
      "device</th></tr></thead><tbody>",
      rows, "</tbody></table>");
  if (!prediction_error.empty()) {
    absl::StrAppend(&out, "<p class=\"muted\">No prediction: ", Escape(prediction_error), "</p>");
  }
  absl::StrAppend(&out, "<p class=\"muted\">Measured: median over the latest ", kGpuPageCaseResults,
                  " ranked results. Predicted: the collector's calibration (docs/scoring.md), "
                  "&plusmn; its leave-one-out error. Reference device: the suite's analytic "
                  "device, the score's 1&times;.</p>");
  return out;
}

// Which models fit in this GPU's memory at each format, and how fast they
// would decode: one row per model preset.
std::string FitSection(const Site& site, const std::string& gpu, const v1::SuiteSpec& suite,
                       int64_t context) {
  std::vector<std::string> formats(suite.formats().begin(), suite.formats().end());
  std::string rows;
  std::string error;
  int64_t gpu_memory = 0;
  for (const ModelPresetEntry& preset : ModelPresets()) {
    std::string cells;
    for (const std::string& f : formats) {
      v1::PredictRequest ask;
      ask.mutable_gpu()->set_name(gpu);
      ask.mutable_model()->set_preset(preset.name);
      ask.set_format(f);
      ask.set_context_tokens(context);
      v1::PredictResponse answer;
      if (grpc::Status s = site.service->ReadPrediction(ask, &answer); !s.ok()) {
        if (error.empty()) error = s.error_message();
        absl::StrAppend(&cells, "<td class=\"muted\">&ndash;</td>");
        continue;
      }
      gpu_memory = answer.gpu_memory_bytes();
      if (answer.fits()) {
        absl::StrAppend(&cells, "<td class=\"ok\" data-fits=\"1\">fits &middot; ",
                        FormatNumber(answer.decode_tokens_per_second().value(), 0), " tok/s</td>");
      } else {
        absl::StrAppend(&cells, "<td class=\"bad\" data-fits=\"0\">needs ",
                        FormatGib(static_cast<double>(answer.memory().total_bytes())), "</td>");
      }
    }
    absl::StrAppend(&rows, "<tr><td>", Escape(preset.name), "</td>", cells, "</tr>");
  }
  std::string out = absl::StrCat("<h2>Memory fit at a ", context, "-token context");
  if (gpu_memory > 0) absl::StrAppend(&out, " (", FormatGib(gpu_memory), ")");
  absl::StrAppend(&out, "</h2><table id=\"fit\"><thead><tr><th>Model</th>");
  for (const std::string& f : formats) absl::StrAppend(&out, "<th>", Escape(f), "</th>");
  absl::StrAppend(&out, "</tr></thead><tbody>", rows, "</tbody></table>");
  if (!error.empty()) absl::StrAppend(&out, "<p class=\"muted\">", Escape(error), "</p>");
  return out;
}

std::string RecentSection(const std::vector<StoredResult>& recent) {
  std::string out =
      "<h2>Recent results</h2><table id=\"recent\"><thead><tr><th>Result</th><th>Received</th>"
      "<th class=\"num\">Score</th><th>Status</th></tr></thead><tbody>";
  for (const StoredResult& r : recent) {
    std::string flags;
    for (const std::string& f : FlagNames(r.flags)) absl::StrAppend(&flags, " ", f);
    absl::StrAppend(
        &out, "<tr><td><a href=\"", Escape(ResultPath(r.id)), "\">", Escape(r.id), "</a></td><td>",
        FormatTime(r.received_us), "</td><td class=\"num\">", FormatNumber(r.score, 1), "</td><td>",
        r.ranked() ? "ranked" : Escape(absl::StrCat("not ranked:", flags)), "</td></tr>");
  }
  return out + "</tbody></table>";
}

}  // namespace

HttpResponse GpuPage(const Site& site, const HttpRequest& request) {
  const std::string gpu = request.path.substr(std::string_view(kGpuPrefix).size());
  const std::string suite_name = Param(request, "suite", kDefaultSuite);
  std::string backend = absl::AsciiStrToLower(Param(request, "backend"));
  const std::string context_text = Param(request, "context", "4096");
  int64_t context = 0;
  if (!absl::SimpleAtoi(context_text, &context) || context < 1 || context > (1 << 24)) {
    return ErrorPage(400, "context must be a whole number of tokens; got '" + context_text + "'");
  }
  absl::StatusOr<LoadedSuite> suite = LoadBuiltInSuite(suite_name);
  if (!suite.ok()) return ErrorPage(404, std::string(suite.status().message()));

  // The groups of this GPU: its backends with ranked results.
  v1::GetLeaderboardRequest read;
  read.set_suite(suite_name);
  read.set_gpu_filter(gpu);
  read.set_page_size(kMaxPageSize);
  v1::GetLeaderboardResponse board;
  if (grpc::Status s = site.service->ReadLeaderboard(read, &board); !s.ok()) {
    return ErrorPage(HttpStatusOf(s.error_code()), s.error_message());
  }
  std::vector<const v1::LeaderboardEntry*> groups;
  for (const v1::LeaderboardEntry& e : board.entries()) {
    if (e.gpu() == gpu) groups.push_back(&e);
  }
  const v1::LeaderboardEntry* group = nullptr;
  for (const v1::LeaderboardEntry* e : groups) {
    if (backend.empty() ? (group == nullptr || e->results() > group->results())
                        : e->backend() == backend) {
      group = e;
    }
  }
  if (backend.empty() && group != nullptr) backend = group->backend();
  if (backend.empty()) backend = "cuda";
  absl::StatusOr<std::vector<StoredResult>> recent =
      site.store->RecentResults(suite_name, gpu, backend, kGpuPageRecentResults);
  if (!recent.ok()) return ErrorPage(500, std::string(recent.status().message()));
  if (group == nullptr && recent->empty()) {
    return ErrorPage(404, absl::StrCat("no results of suite ", suite_name, " for GPU '", gpu,
                                       "' with backend ", backend));
  }

  std::string body = absl::StrCat("<h1 id=\"gpu-name\">", Escape(gpu), "</h1><p class=\"muted\">",
                                  Escape(backend), " backend &middot; suite ", Escape(suite_name));
  for (const v1::LeaderboardEntry* e : groups) {
    if (e->backend() == backend) continue;
    absl::StrAppend(&body, " &middot; also <a href=\"", Escape(GpuPath(gpu, e->backend())), "\">",
                    Escape(e->backend()), "</a>");
  }
  absl::StrAppend(&body, "</p>");
  if (const HardwareSpec* spec = MatchHardware(gpu); spec != nullptr) {
    absl::StrAppend(&body, "<p id=\"spec\">Spec table: ", Escape(spec->name), ", ",
                    FormatGib(static_cast<double>(spec->memory_bytes)), ", ",
                    FormatNumber(spec->memory_bandwidth / 1e9, 0), " GB/s, ",
                    FormatNumber(spec->fp16_flops / 1e12, 0), " TFLOP/s FP16 dense.</p>");
  }
  if (group == nullptr) {
    absl::StrAppend(&body, "<p id=\"unranked\">No ranked results on this backend yet.</p>");
  } else {
    absl::StrAppend(
        &body,
        "<div class=\"cards\"><div class=\"card\">Median score<div class=\"v\" id=\"median\">",
        FormatNumber(group->median_score(), 1),
        "</div></div><div class=\"card\">25th to 75th percentile<div class=\"v\">",
        FormatNumber(group->p25_score(), 1), " to ", FormatNumber(group->p75_score(), 1),
        "</div></div><div class=\"card\">Ranked results<div class=\"v\" id=\"results\">",
        group->results(), "</div></div><div class=\"card\">Best<div class=\"v\"><a href=\"",
        Escape(ResultPath(group->best_result_id())), "\">", FormatNumber(group->best_score(), 1),
        "</a></div></div></div>");
    absl::StatusOr<std::vector<double>> scores =
        site.store->GroupScores(suite_name, "", gpu, backend);
    if (!scores.ok()) return ErrorPage(500, std::string(scores.status().message()));
    const int bins = std::clamp(static_cast<int>(std::sqrt(scores->size())), 5, 30);
    absl::StrAppend(&body, "<h2>Distribution of scores</h2>",
                    HistogramSvg(MakeHistogram(*scores, bins), "AI System Score"));
  }

  absl::StatusOr<std::vector<CaseMedian>> medians =
      site.store->GroupCaseMedians(suite_name, gpu, backend, kGpuPageCaseResults);
  if (!medians.ok()) return ErrorPage(500, std::string(medians.status().message()));
  std::map<std::pair<std::string, std::string>, double> measured;
  for (const CaseMedian& m : *medians) measured[{m.case_name, m.metric}] = m.median;
  absl::StrAppend(&body, SpeedSection(site, gpu, suite->spec, measured),
                  FitSection(site, gpu, suite->spec, context), RecentSection(*recent));
  return HtmlPage(gpu, body);
}

}  // namespace aiscore::collector::web
