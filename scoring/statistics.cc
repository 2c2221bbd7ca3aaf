#include "scoring/statistics.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace aiscore {
namespace {

std::vector<double> Sorted(std::span<const double> samples) {
  std::vector<double> v(samples.begin(), samples.end());
  std::sort(v.begin(), v.end());
  return v;
}

double SortedQuantile(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const double h = std::clamp(q, 0.0, 1.0) * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(h));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (h - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

SampleStats Summarize(std::span<const double> samples) {
  SampleStats s;
  s.n = static_cast<int64_t>(samples.size());
  if (s.n == 0) return s;
  const std::vector<double> v = Sorted(samples);
  s.median = SortedQuantile(v, 0.5);
  s.min = v.front();
  s.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  s.mean = sum / static_cast<double>(s.n);
  if (s.n > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / static_cast<double>(s.n - 1));
  }
  return s;
}

double Median(std::span<const double> samples) { return Quantile(samples, 0.5); }

double Quantile(std::span<const double> samples, double q) {
  return SortedQuantile(Sorted(samples), q);
}

double RobustStddev(std::span<const double> samples) {
  if (samples.empty()) return 0;
  const double m = Median(samples);
  std::vector<double> dev;
  dev.reserve(samples.size());
  for (double x : samples) dev.push_back(std::fabs(x - m));
  return 1.4826 * Median(dev);
}

double GeometricMean(std::span<const double> values) {
  if (values.empty()) return 0;
  double log_sum = 0;
  for (double x : values) {
    if (!(x > 0) || !std::isfinite(x)) return 0;
    log_sum += std::log(x);
  }
  return std::exp(log_sum / static_cast<double>(values.size()));
}

}  // namespace aiscore
