// GET /predict: the prediction form and its answer (pages.h).
#include <set>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "collector/web/html.h"
#include "collector/web/pages.h"
#include "collector/web/svg_chart.h"
#include "scoring/hardware_table.h"
#include "scoring/model_presets.h"

namespace aiscore::collector::web {
namespace {

constexpr const char* kFormats[] = {"f16", "q8_0", "q4_k", "q2_k"};

// An estimate with its error bar: "45.2 tok/s ± 12%" and a range chart.
std::string EstimateHtml(const v1::Estimate& e, const std::string& unit, int digits,
                         const std::string& id) {
  std::string out = absl::StrCat("<span id=\"", id, "\" class=\"v\">",
                                 FormatNumber(e.value(), digits), "</span> ", unit);
  if (!e.error_measured()) {
    return out + " <span class=\"muted\">(error not measurable yet)</span>";
  }
  const double low = e.value() * (1 - e.relative_error());
  const double high = e.value() * (1 + e.relative_error());
  absl::StrAppend(&out, " <span class=\"muted\">&plusmn;",
                  FormatNumber(e.relative_error() * 100, 0), "% (", FormatNumber(low, digits),
                  " to ", FormatNumber(high, digits), ")</span>",
                  RangeSvg(e.value(), low, high, high * 1.25, 240));
  return out;
}

std::string Answer(const v1::PredictResponse& a) {
  const v1::MemoryBreakdown& m = a.memory();
  const double gib = 1024.0 * 1024.0 * 1024.0;
  std::string out =
      absl::StrCat("<h2>Answer</h2><p id=\"fits\" class=\"", a.fits() ? "ok" : "bad", "\">",
                   a.fits() ? "Fits" : "Does not fit", ": needs ",
                   FormatGib(static_cast<double>(m.total_bytes())), " of ",
                   FormatGib(static_cast<double>(a.gpu_memory_bytes())), " on ", Escape(a.gpu()),
                   ".</p><table id=\"prediction\"><tbody><tr><th>Decode</th><td>",
                   EstimateHtml(a.decode_tokens_per_second(), "tokens/s", 1, "decode"),
                   "</td></tr><tr><th>Prefill</th><td>",
                   EstimateHtml(a.prefill_tokens_per_second(), "tokens/s", 0, "prefill"),
                   "</td></tr><tr><th>Time to first token</th><td>",
                   EstimateHtml(a.time_to_first_token_seconds(), "s", 2, "ttft"),
                   " <span class=\"muted\">for a ", a.context_tokens(),
                   "-token prompt</span></td></tr><tr><th>Memory</th><td>weights ",
                   FormatGib(static_cast<double>(m.weights_bytes())), " + KV cache ",
                   FormatGib(static_cast<double>(m.kv_cache_bytes())), " + activations ",
                   FormatGib(static_cast<double>(m.activations_bytes())), " + runtime ",
                   FormatGib(static_cast<double>(m.overhead_bytes())), " = <span id=\"memory\">",
                   FormatNumber(static_cast<double>(m.total_bytes()) / gib, 1),
                   " GiB</span></td></tr><tr><th>Basis</th><td id=\"basis\">", Escape(a.basis()),
                   " (", a.results(), " measured results)</td></tr></tbody></table>");
  return out;
}

}  // namespace

HttpResponse PredictPage(const Site& site, const HttpRequest& request) {
  const std::string gpu = Param(request, "gpu");
  const std::string model = Param(request, "model", "llama-3.1-8b");
  const std::string format = absl::AsciiStrToLower(Param(request, "format", "q4_k"));
  const std::string context_text = Param(request, "context", "4096");

  // GPUs the form suggests: the spec table's rows and the GPUs with results.
  std::set<std::string> gpus;
  for (const HardwareSpec& row : HardwareTable()) gpus.insert(row.name);
  v1::ListGpusResponse listed;
  if (site.service->ReadGpus(v1::ListGpusRequest(), &listed).ok()) {
    for (const v1::GpuSummary& g : listed.gpus()) gpus.insert(g.name());
  }
  std::string body =
      "<h1>Will it run, and how fast?</h1><form class=\"filters\" method=\"get\" "
      "action=\"/predict\" id=\"predict-form\">";
  absl::StrAppend(&body,
                  "<label>GPU<input name=\"gpu\" list=\"gpus\" required size=\"32\" value=\"",
                  Escape(gpu),
                  "\" placeholder=\"NVIDIA GeForce RTX 4090\"></label><datalist "
                  "id=\"gpus\">");
  for (const std::string& g : gpus) absl::StrAppend(&body, "<option value=\"", Escape(g), "\">");
  absl::StrAppend(&body, "</datalist><label>Model<select name=\"model\">");
  for (const ModelPresetEntry& p : ModelPresets()) {
    absl::StrAppend(&body, "<option value=\"", Escape(p.name), "\"",
                    p.name == model ? " selected" : "", ">", Escape(p.name), "</option>");
  }
  absl::StrAppend(&body, "</select></label><label>Format<select name=\"format\">");
  for (const char* f : kFormats) {
    absl::StrAppend(&body, "<option value=\"", f, "\"", format == f ? " selected" : "", ">", f,
                    "</option>");
  }
  absl::StrAppend(&body,
                  "</select></label><label>Context (tokens)<input name=\"context\" "
                  "type=\"number\" min=\"1\" max=\"1048576\" value=\"",
                  Escape(context_text),
                  "\"></label><button type=\"submit\" id=\"predict\">Predict</button></form>");
  if (gpu.empty()) {
    absl::StrAppend(&body,
                    "<p class=\"muted\">Pick a GPU from the spec table (or one with results), "
                    "a model and a format. Figures come from the collector's calibration on the "
                    "results it holds, with their measured leave-one-out error.</p>");
    return HtmlPage("Predict", body);
  }
  int64_t context = 0;
  if (!absl::SimpleAtoi(context_text, &context) || context < 1) {
    absl::StrAppend(&body,
                    "<p id=\"error\" class=\"bad\">Context must be a whole number of "
                    "tokens; got '",
                    Escape(context_text), "'.</p>");
    return HtmlPage("Predict", body, 400);
  }
  v1::PredictRequest ask;
  ask.mutable_gpu()->set_name(gpu);
  ask.mutable_model()->set_preset(model);
  ask.set_format(format);
  ask.set_context_tokens(context);
  v1::PredictResponse answer;
  if (grpc::Status s = site.service->ReadPrediction(ask, &answer); !s.ok()) {
    absl::StrAppend(&body, "<p id=\"error\" class=\"bad\">", Escape(s.error_message()), "</p>");
    return HtmlPage("Predict", body, HttpStatusOf(s.error_code()));
  }
  absl::StrAppend(&body, Answer(answer));
  return HtmlPage("Predict", body);
}

}  // namespace aiscore::collector::web
