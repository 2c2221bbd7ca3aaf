// Charts as inline SVG, drawn on the server (no scripts, fonts or styles from
// elsewhere): a histogram of scores, grouped bars (measured, predicted and
// reference figures per format) and a value with its range (a score's 25th to
// 75th percentile, a prediction's error bar).
//
// Labels are escaped here; every function is pure and thread-safe. Each chart
// carries role="img" and an aria-label saying what it shows in words.
#ifndef AISCORE_COLLECTOR_WEB_SVG_CHART_H_
#define AISCORE_COLLECTOR_WEB_SVG_CHART_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aiscore::collector::web {

// Equal-width bins over [min, max] of `values`: counts[i] holds the values in
// [lo + i * width, lo + (i + 1) * width), the last bin closed. One bin when
// all values are equal; no bins when there are none. Non-finite values are
// left out.
struct Histogram {
  double lo = 0;
  double width = 0;
  std::vector<int64_t> counts;
};
Histogram MakeHistogram(std::span<const double> values, int bins);

// The histogram as bars with the count above each, the bin edges below and
// `x_label` under the axis.
std::string HistogramSvg(const Histogram& histogram, const std::string& x_label);

// Grouped bars: one group per category, one bar per series in the series'
// order. values[series][category]; a NaN or non-positive value draws no bar.
struct BarSeries {
  std::string name;   // legend
  std::string color;  // CSS color, from this program (not escaped)
  std::vector<double> values;
};
std::string GroupedBarsSvg(const std::vector<std::string>& categories,
                           const std::vector<BarSeries>& series, const std::string& y_label);

// A horizontal bar from `low` to `high` with a mark at `value`, on an axis
// from 0 to `axis_max` (`width` pixels): a percentile range or an error bar.
std::string RangeSvg(double value, double low, double high, double axis_max, int width = 160);

}  // namespace aiscore::collector::web

#endif  // AISCORE_COLLECTOR_WEB_SVG_CHART_H_
