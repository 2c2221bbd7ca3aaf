// scoring/statistics.h: what each statistic says for n = 0 and n = 1, medians
// of even and odd counts, type-7 quantiles against hand values, a robust
// standard deviation that one outlier does not move, and geometric means.
#include "scoring/statistics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace aiscore {
namespace {

TEST(StatisticsTest, EmptyGivesZeros) {
  const std::vector<double> none;
  const SampleStats s = Summarize(none);
  EXPECT_EQ(s.n, 0);
  EXPECT_EQ(s.median, 0);
  EXPECT_EQ(s.min, 0);
  EXPECT_EQ(s.max, 0);
  EXPECT_EQ(s.mean, 0);
  EXPECT_EQ(s.stddev, 0);
  EXPECT_EQ(Median(none), 0);
  EXPECT_EQ(Quantile(none, 0.25), 0);
  EXPECT_EQ(RobustStddev(none), 0);
  EXPECT_EQ(GeometricMean(none), 0);
}

TEST(StatisticsTest, OneSampleIsEveryStatisticButStddev) {
  const std::vector<double> one = {42.5};
  const SampleStats s = Summarize(one);
  EXPECT_EQ(s.n, 1);
  EXPECT_EQ(s.median, 42.5);
  EXPECT_EQ(s.min, 42.5);
  EXPECT_EQ(s.max, 42.5);
  EXPECT_EQ(s.mean, 42.5);
  EXPECT_EQ(s.stddev, 0);
  EXPECT_EQ(Quantile(one, 0.0), 42.5);
  EXPECT_EQ(Quantile(one, 0.9), 42.5);
  EXPECT_EQ(RobustStddev(one), 0);
  EXPECT_DOUBLE_EQ(GeometricMean(one), 42.5);
}

TEST(StatisticsTest, MedianOfOddCountIsTheMiddleValue) {
  const std::vector<double> odd = {5, 1, 3};
  EXPECT_EQ(Median(odd), 3);
  EXPECT_EQ(Summarize(odd).median, 3);
}

TEST(StatisticsTest, MedianOfEvenCountIsTheMeanOfTheMiddleTwo) {
  const std::vector<double> even = {4, 1, 3, 2};
  EXPECT_EQ(Median(even), 2.5);
  EXPECT_EQ(Summarize(even).median, 2.5);
}

TEST(StatisticsTest, SummarizeOfAKnownSample) {
  // Mean 5; squared deviations sum to 32; sample variance 32 / 7.
  const std::vector<double> v = {2, 4, 4, 4, 5, 5, 7, 9};
  const SampleStats s = Summarize(v);
  EXPECT_EQ(s.n, 8);
  EXPECT_EQ(s.min, 2);
  EXPECT_EQ(s.max, 9);
  EXPECT_EQ(s.median, 4.5);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_DOUBLE_EQ(s.stddev, std::sqrt(32.0 / 7.0));
}

TEST(StatisticsTest, QuantilesInterpolateLikeNumPy) {
  // numpy.quantile(range(1, 11), q): the default (type 7) interpolation.
  const std::vector<double> v = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  EXPECT_DOUBLE_EQ(Quantile(v, 0.0), 1);
  EXPECT_DOUBLE_EQ(Quantile(v, 0.25), 3.25);
  EXPECT_DOUBLE_EQ(Quantile(v, 0.5), 5.5);
  EXPECT_DOUBLE_EQ(Quantile(v, 0.75), 7.75);
  EXPECT_DOUBLE_EQ(Quantile(v, 0.9), 9.1);
  EXPECT_DOUBLE_EQ(Quantile(v, 1.0), 10);
  // q outside [0, 1] is clamped.
  EXPECT_DOUBLE_EQ(Quantile(v, -0.5), 1);
  EXPECT_DOUBLE_EQ(Quantile(v, 1.5), 10);
}

TEST(StatisticsTest, RobustStddevIgnoresAnOutlier) {
  const std::vector<double> clean = {1, 2, 3, 4, 5};
  const std::vector<double> outlier = {1, 2, 3, 4, 1000};
  // Median 3, absolute deviations {2, 1, 0, 1, 2 or 997}: their median is 1.
  EXPECT_DOUBLE_EQ(RobustStddev(clean), 1.4826);
  EXPECT_DOUBLE_EQ(RobustStddev(outlier), 1.4826);
  // The sample standard deviation is dragged far away by the same outlier.
  EXPECT_GT(Summarize(outlier).stddev, 100 * Summarize(clean).stddev);
}

TEST(StatisticsTest, GeometricMeanOfPositiveValues) {
  EXPECT_DOUBLE_EQ(GeometricMean(std::vector<double>{1, 4, 16}), 4);
  EXPECT_DOUBLE_EQ(GeometricMean(std::vector<double>{2, 8}), 4);
  EXPECT_DOUBLE_EQ(GeometricMean(std::vector<double>{0.5, 2}), 1);
  EXPECT_DOUBLE_EQ(GeometricMean(std::vector<double>{3, 3, 3}), 3);
}

TEST(StatisticsTest, GeometricMeanIsZeroForANonPositiveOrNonFiniteValue) {
  const double inf = std::numeric_limits<double>::infinity();
  const double nan = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(GeometricMean(std::vector<double>{1, 0, 4}), 0);
  EXPECT_EQ(GeometricMean(std::vector<double>{1, -2, 4}), 0);
  EXPECT_EQ(GeometricMean(std::vector<double>{1, inf}), 0);
  EXPECT_EQ(GeometricMean(std::vector<double>{nan, 1}), 0);
}

}  // namespace
}  // namespace aiscore
