// GET /result/ID: one stored result (pages.h).
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "collector/service/stored_result.h"
#include "collector/web/html.h"
#include "collector/web/pages.h"
#include "suites/suite_loader.h"

namespace aiscore::collector::web {
namespace {

constexpr char kResultPrefix[] = "/result/";

std::string SelfCheckText(const v1::SelfCheck& check) {
  switch (check.status()) {
    case v1::SELF_CHECK_STATUS_PASSED:
      return absl::StrCat("<span class=\"ok\">passed</span> <span class=\"muted\">nmse ",
                          FormatSignificant(check.nmse()), " &le; ",
                          FormatSignificant(check.tolerance()), "</span>");
    case v1::SELF_CHECK_STATUS_FAILED:
      return absl::StrCat("<span class=\"bad\">failed</span> ", Escape(check.message()));
    default:
      return "<span class=\"muted\">not done</span>";
  }
}

// A definition list row.
std::string Row(const std::string& label, const std::string& html_value) {
  return absl::StrCat("<tr><th>", label, "</th><td>", html_value, "</td></tr>");
}

std::string HardwareSection(const v1::RunResult& r) {
  std::string out = "<h2>Hardware and software</h2><table id=\"hardware\"><tbody>";
  const v1::CpuInfo& cpu = r.hardware().cpu();
  absl::StrAppend(
      &out, Row("CPU", absl::StrCat(Escape(cpu.model()), " &middot; ", cpu.cores(), " cores, ",
                                    cpu.threads(), " threads, ",
                                    FormatGib(static_cast<double>(cpu.memory_bytes())), " RAM")));
  if (cpu.isa_flags_size() > 0) {
    absl::StrAppend(&out, Row("CPU features", Escape(absl::StrJoin(cpu.isa_flags(), " "))));
  }
  for (const v1::GpuInfo& g : r.hardware().gpus()) {
    absl::StrAppend(
        &out, Row("GPU", absl::StrCat(
                             "<span class=\"gpu-reported\">", Escape(g.name()), "</span> &middot; ",
                             FormatGib(static_cast<double>(g.memory_bytes())),
                             ", compute capability ", Escape(g.compute_capability()), ", driver ",
                             Escape(g.driver_version()), ", CUDA ", Escape(g.cuda_version()),
                             ", power limit ", FormatNumber(g.power_limit_watts(), 0), " W")));
  }
  absl::StrAppend(
      &out,
      Row("OS", Escape(absl::StrCat(r.hardware().os().name(), " ", r.hardware().os().kernel()))));
  const v1::BackendInfo& b = r.backend();
  std::string backend = absl::StrCat(Escape(b.name()), " on ", Escape(b.device_name()));
  if (b.threads() > 0) absl::StrAppend(&backend, ", ", b.threads(), " threads");
  if (!b.isa().empty()) absl::StrAppend(&backend, ", ", Escape(b.isa()), " kernels");
  if (b.memory_bandwidth() > 0) {
    absl::StrAppend(&backend, ", memory read ", FormatNumber(b.memory_bandwidth() / 1e9, 1),
                    " GB/s measured");
  }
  absl::StrAppend(&out, Row("Backend", backend));
  const v1::SoftwareBuild& s = r.software();
  absl::StrAppend(
      &out,
      Row("Build",
          absl::StrCat("<span id=\"build\">aiscore ", Escape(s.version()), " (commit ",
                       Escape(s.git_commit()), "), ", Escape(s.compiler()), ", ",
                       Escape(s.build_type()),
                       s.cuda_runtime().empty() ? "" : ", CUDA runtime " + Escape(s.cuda_runtime()),
                       "</span>")));
  if (r.model().custom()) {
    absl::StrAppend(&out, Row("Model", absl::StrCat("custom: ", Escape(r.model().file_name()), " (",
                                                    Escape(r.model().file_format()), ", sha256 ",
                                                    Escape(r.model().file_sha256()), ")")));
  }
  return out + "</tbody></table>";
}

std::string CasesSection(const v1::RunResult& r) {
  std::string out =
      "<h2>Cases</h2><table id=\"cases\"><thead><tr><th>Case</th><th>Status</th><th>Self-check"
      "</th><th>Metric</th><th class=\"num\">Median</th><th class=\"num\">Min</th><th "
      "class=\"num\">Max</th><th class=\"num\">Std dev</th><th>Samples</th></tr></thead><tbody>";
  for (const v1::CaseResult& c : r.cases()) {
    const int rows = std::max(c.measurements_size(), 1);
    std::string status = CaseStatusName(c.status());
    if (!c.reason().empty()) absl::StrAppend(&status, ": ", c.reason());
    absl::StrAppend(&out, "<tr class=\"case\" data-case=\"", Escape(c.name()), "\"><td rowspan=\"",
                    rows, "\">", Escape(c.name()), "<div class=\"muted\">", Escape(c.model()), ", ",
                    c.timed_runs(), " timed runs</div></td><td rowspan=\"", rows, "\" class=\"",
                    c.status() == v1::CASE_STATUS_OK ? "ok" : "bad", "\">", Escape(status),
                    "</td><td rowspan=\"", rows, "\">", SelfCheckText(c.self_check()), "</td>");
    if (c.measurements().empty()) absl::StrAppend(&out, "<td colspan=\"6\"></td></tr>");
    for (int i = 0; i < c.measurements_size(); ++i) {
      const v1::Measurement& m = c.measurements(i);
      if (i > 0) absl::StrAppend(&out, "<tr class=\"case-cont\">");
      std::string samples;
      for (double s : m.samples()) {
        absl::StrAppend(&samples, samples.empty() ? "" : " ", FormatSignificant(s));
      }
      const std::string unit = UnitSymbol(m.unit());
      absl::StrAppend(&out, "<td class=\"metric\">", Escape(m.name()),
                      unit.empty() ? "" : absl::StrCat(" <span class=\"muted\">", unit, "</span>"),
                      "</td><td class=\"num median\">", FormatSignificant(m.median()),
                      "</td><td class=\"num\">", FormatSignificant(m.min()),
                      "</td><td class=\"num\">", FormatSignificant(m.max()),
                      "</td><td class=\"num\">", FormatSignificant(m.stddev()),
                      "</td><td class=\"samples\">", samples, "</td></tr>");
    }
  }
  return out + "</tbody></table>";
}

}  // namespace

HttpResponse ResultPage(const Site& site, const HttpRequest& request) {
  v1::GetResultRequest read;
  read.set_id(request.path.substr(std::string_view(kResultPrefix).size()));
  v1::GetResultResponse got;
  if (grpc::Status s = site.service->ReadResult(read, &got); !s.ok()) {
    return ErrorPage(HttpStatusOf(s.error_code()), s.error_message());
  }
  const v1::RunResult& r = got.result();
  const v1::SubScores& sub = got.sub_scores();
  std::string body = absl::StrCat(
      "<h1>Result <span id=\"result-id\">", Escape(got.id()), "</span></h1><div class=\"cards\">",
      "<div class=\"card\">AI System Score<div class=\"v\" id=\"score\">",
      FormatNumber(got.score(), 1),
      "</div></div><div class=\"card\">Ranked<div class=\"v\" "
      "id=\"ranked\">",
      got.ranked() ? "yes" : "no", "</div></div><div class=\"card\">Capacity<div class=\"v\">",
      FormatNumber(sub.capacity() * 100, 0),
      "%</div></div></div><h2>Summary</h2><table id=\"summary\"><tbody>",
      Row("GPU", absl::StrCat("<a id=\"gpu-link\" href=\"",
                              Escape(GpuPath(DeviceNameOf(r), r.backend().name())), "\">",
                              Escape(DeviceNameOf(r)), "</a> (", Escape(r.backend().name()), ")")),
      Row("Suite", Escape(absl::StrCat(r.suite().name(), " (sha256 ", r.suite().sha256(), ")"))),
      Row("Sub-scores", absl::StrCat("prefill ", FormatNumber(sub.prefill(), 1),
                                     " &middot; decode ", FormatNumber(sub.decode(), 1),
                                     " &middot; latency ", FormatNumber(sub.latency(), 1),
                                     " &middot; long context ", FormatNumber(sub.long_context(), 1),
                                     " &middot; speculative ", FormatNumber(sub.speculative(), 1))),
      Row("Flags", got.flags().empty()
                       ? "none"
                       : absl::StrCat("<span id=\"flags\">",
                                      Escape(absl::StrJoin(got.flags(), ", ")), "</span>")),
      Row("Received", FormatTime(got.received_at().seconds() * 1000000)),
      Row("Signed by", absl::StrCat("<code id=\"fingerprint\">",
                                    Escape(got.public_key_fingerprint()), "</code>")),
      Row("Agent's own score", FormatNumber(r.local_score(), 1)), "</tbody></table>",
      HardwareSection(r), CasesSection(r));
  return HtmlPage(absl::StrCat("Result ", got.id()), body);
}

}  // namespace aiscore::collector::web
