// Statistics of repeated measurements, used by the runner (per case), the
// score and the collector (per GPU). Pure functions, thread-safe.
//
// What they say for small n: n = 0 gives all zeros; n = 1 gives that value
// for median, min, max and mean, and 0 for stddev.
#ifndef AISCORE_SCORING_STATISTICS_H_
#define AISCORE_SCORING_STATISTICS_H_

#include <cstdint>
#include <span>

namespace aiscore {

struct SampleStats {
  int64_t n = 0;
  double median = 0;
  double min = 0;
  double max = 0;
  double mean = 0;
  double stddev = 0;  // sample standard deviation (n - 1 in the denominator)
};

SampleStats Summarize(std::span<const double> samples);

double Median(std::span<const double> samples);
// The q-quantile (q in [0, 1]) with linear interpolation between order
// statistics (type 7, as R and NumPy default).
double Quantile(std::span<const double> samples, double q);
// Median absolute deviation from the median, times 1.4826: a standard
// deviation that outliers do not inflate (equal to sigma for normal data).
double RobustStddev(std::span<const double> samples);
// Geometric mean of positive values; 0 when empty or when any is <= 0.
double GeometricMean(std::span<const double> values);

}  // namespace aiscore

#endif  // AISCORE_SCORING_STATISTICS_H_
