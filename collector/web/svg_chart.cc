#include "collector/web/svg_chart.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "collector/web/html.h"

namespace aiscore::collector::web {
namespace {

std::string Px(double v) { return absl::StrFormat("%.1f", v); }

// A "nice" axis top at or above `v`: 1, 2 or 5 times a power of ten.
double NiceCeiling(double v) {
  if (!(v > 0)) return 1;
  const double p = std::pow(10.0, std::floor(std::log10(v)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (m * p >= v) return m * p;
  }
  return 10 * p;
}

}  // namespace

Histogram MakeHistogram(std::span<const double> values, int bins) {
  Histogram h;
  double lo = 0, hi = 0;
  bool any = false;
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    lo = any ? std::min(lo, v) : v;
    hi = any ? std::max(hi, v) : v;
    any = true;
  }
  if (!any || bins < 1) return h;
  h.lo = lo;
  if (hi == lo) {
    h.counts.assign(1, 0);
    h.width = 0;
  } else {
    h.counts.assign(static_cast<size_t>(bins), 0);
    h.width = (hi - lo) / bins;
  }
  for (double v : values) {
    if (!std::isfinite(v)) continue;
    size_t i = h.width > 0 ? static_cast<size_t>((v - lo) / h.width) : 0;
    ++h.counts[std::min(i, h.counts.size() - 1)];
  }
  return h;
}

std::string HistogramSvg(const Histogram& h, const std::string& x_label) {
  constexpr double kWidth = 640, kHeight = 220, kLeft = 36, kBottom = 40, kTop = 18;
  int64_t total = 0, top = 0;
  for (int64_t c : h.counts) total += c, top = std::max(top, c);
  std::string svg = absl::StrCat(
      "<svg class=\"histogram\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ", kWidth, " ",
      kHeight, "\" width=\"", kWidth, "\" height=\"", kHeight, "\" role=\"img\" aria-label=\"",
      Escape(absl::StrCat("Histogram of ", total, " values of ", x_label)), "\">");
  if (h.counts.empty()) return svg + "<text x=\"10\" y=\"30\">no values</text></svg>";
  const double plot_w = kWidth - kLeft - 10, plot_h = kHeight - kBottom - kTop;
  const double bar_w = plot_w / static_cast<double>(h.counts.size());
  absl::StrAppend(&svg, "<line x1=\"", kLeft, "\" y1=\"", kTop + plot_h, "\" x2=\"", kLeft + plot_w,
                  "\" y2=\"", kTop + plot_h, "\" stroke=\"#5b6475\"/>");
  for (size_t i = 0; i < h.counts.size(); ++i) {
    const double bh = top > 0 ? plot_h * static_cast<double>(h.counts[i]) / top : 0;
    const double x = kLeft + bar_w * static_cast<double>(i);
    const double lo = h.lo + h.width * static_cast<double>(i);
    absl::StrAppend(&svg, "<rect class=\"bin\" data-count=\"", h.counts[i], "\" x=\"", Px(x + 1),
                    "\" y=\"", Px(kTop + plot_h - bh), "\" width=\"", Px(std::max(bar_w - 2, 1.0)),
                    "\" height=\"", Px(bh), "\" fill=\"#2357c6\"><title>",
                    Escape(absl::StrCat(FormatSignificant(lo), " to ",
                                        FormatSignificant(lo + h.width), ": ", h.counts[i])),
                    "</title></rect>");
    if (h.counts[i] > 0) {
      absl::StrAppend(&svg, "<text x=\"", Px(x + bar_w / 2), "\" y=\"", Px(kTop + plot_h - bh - 3),
                      "\" font-size=\"11\" text-anchor=\"middle\">", h.counts[i], "</text>");
    }
  }
  const double hi = h.lo + h.width * static_cast<double>(h.counts.size());
  absl::StrAppend(&svg, "<text x=\"", kLeft, "\" y=\"", kTop + plot_h + 14, "\" font-size=\"11\">",
                  Escape(FormatSignificant(h.lo)), "</text><text x=\"", kLeft + plot_w, "\" y=\"",
                  kTop + plot_h + 14, "\" font-size=\"11\" text-anchor=\"end\">",
                  Escape(FormatSignificant(hi)), "</text><text x=\"", kLeft + plot_w / 2, "\" y=\"",
                  kHeight - 6, "\" font-size=\"12\" text-anchor=\"middle\">", Escape(x_label),
                  "</text></svg>");
  return svg;
}

std::string GroupedBarsSvg(const std::vector<std::string>& categories,
                           const std::vector<BarSeries>& series, const std::string& y_label) {
  constexpr double kWidth = 640, kHeight = 240, kLeft = 48, kBottom = 44, kTop = 24;
  double top = 0;
  for (const BarSeries& s : series) {
    for (double v : s.values) {
      if (std::isfinite(v)) top = std::max(top, v);
    }
  }
  top = NiceCeiling(top);
  const double plot_w = kWidth - kLeft - 10, plot_h = kHeight - kBottom - kTop;
  std::string svg =
      absl::StrCat("<svg class=\"bars\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 ",
                   kWidth, " ", kHeight, "\" width=\"", kWidth, "\" height=\"", kHeight,
                   "\" role=\"img\" aria-label=\"", Escape(y_label), "\">");
  // Axis with the top value and zero.
  absl::StrAppend(&svg, "<line x1=\"", kLeft, "\" y1=\"", kTop, "\" x2=\"", kLeft, "\" y2=\"",
                  kTop + plot_h, "\" stroke=\"#5b6475\"/><line x1=\"", kLeft, "\" y1=\"",
                  kTop + plot_h, "\" x2=\"", kLeft + plot_w, "\" y2=\"", kTop + plot_h,
                  "\" stroke=\"#5b6475\"/><text x=\"", kLeft - 4, "\" y=\"", kTop + 4,
                  "\" font-size=\"11\" text-anchor=\"end\">", Escape(FormatSignificant(top)),
                  "</text><text x=\"", kLeft - 4, "\" y=\"", kTop + plot_h,
                  "\" font-size=\"11\" text-anchor=\"end\">0</text><text x=\"4\" y=\"14\" "
                  "font-size=\"12\">",
                  Escape(y_label), "</text>");
  const double group_w = categories.empty() ? plot_w : plot_w / categories.size();
  const double bar_w = (group_w - 12) / std::max<size_t>(series.size(), 1);
  for (size_t c = 0; c < categories.size(); ++c) {
    const double gx = kLeft + group_w * static_cast<double>(c) + 6;
    for (size_t s = 0; s < series.size(); ++s) {
      const double v = c < series[s].values.size() ? series[s].values[c] : NAN;
      if (!(v > 0) || !std::isfinite(v)) continue;
      const double bh = plot_h * v / top;
      const double x = gx + bar_w * static_cast<double>(s);
      absl::StrAppend(
          &svg, "<rect x=\"", Px(x), "\" y=\"", Px(kTop + plot_h - bh), "\" width=\"",
          Px(std::max(bar_w - 2, 1.0)), "\" height=\"", Px(bh), "\" fill=\"", series[s].color,
          "\"><title>",
          Escape(absl::StrCat(categories[c], " ", series[s].name, ": ", FormatSignificant(v))),
          "</title></rect>");
    }
    absl::StrAppend(&svg, "<text x=\"", Px(gx + (group_w - 12) / 2), "\" y=\"", kTop + plot_h + 14,
                    "\" font-size=\"12\" text-anchor=\"middle\">", Escape(categories[c]),
                    "</text>");
  }
  // Legend under the axis.
  double lx = kLeft;
  for (const BarSeries& s : series) {
    absl::StrAppend(&svg, "<rect x=\"", Px(lx), "\" y=\"", kHeight - 14,
                    "\" width=\"10\" height=\"10\" fill=\"", s.color, "\"/><text x=\"", Px(lx + 14),
                    "\" y=\"", kHeight - 5, "\" font-size=\"12\">", Escape(s.name), "</text>");
    lx += 24 + 7.0 * static_cast<double>(s.name.size());
  }
  return svg + "</svg>";
}

std::string RangeSvg(double value, double low, double high, double axis_max, int width) {
  const double top = axis_max > 0 ? axis_max : 1;
  auto x = [&](double v) { return std::clamp(v / top, 0.0, 1.0) * (width - 4) + 2; };
  return absl::StrCat("<svg class=\"range\" xmlns=\"http://www.w3.org/2000/svg\" width=\"", width,
                      "\" height=\"14\" viewBox=\"0 0 ", width, " 14\" role=\"img\" aria-label=\"",
                      Escape(absl::StrCat(FormatSignificant(value), " (", FormatSignificant(low),
                                          " to ", FormatSignificant(high), ")")),
                      "\"><line x1=\"2\" y1=\"7\" x2=\"", width - 2,
                      "\" y2=\"7\" stroke=\"#d9dee7\"/><rect x=\"", Px(x(low)),
                      "\" y=\"3\" width=\"", Px(std::max(x(high) - x(low), 1.0)),
                      "\" height=\"8\" fill=\"#9db4e6\"/><rect x=\"", Px(x(value) - 1),
                      "\" y=\"1\" width=\"2\" height=\"12\" fill=\"#1d2330\"/></svg>");
}

}  // namespace aiscore::collector::web
