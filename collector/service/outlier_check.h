// The outlier check of Submit: a result far from the results of the same GPU
// is stored, flagged and kept off the leaderboard until the operator looks
// (DESIGN.md "Trust": outliers are kept and flagged).
//
// Far means more than kOutlierRobustSds robust standard deviations from the
// group's median score, the robust standard deviation being the group's
// interquartile range / 1.349 (the IQR of a normal distribution is 1.349
// sigma), floored at kMinRelativeSpread x the median so that a group of
// near-identical scores does not flag a result 1% away. Groups with fewer
// than kMinOutlierGroup ranked results flag nothing: there is no
// distribution yet to be far from.
//
// Pure; thread-safe.
#ifndef AISCORE_COLLECTOR_SERVICE_OUTLIER_CHECK_H_
#define AISCORE_COLLECTOR_SERVICE_OUTLIER_CHECK_H_

#include <cstdint>
#include <string>

#include "collector/store/result_store.h"

namespace aiscore::collector {

inline constexpr int64_t kMinOutlierGroup = 10;
inline constexpr double kOutlierRobustSds = 3;
inline constexpr double kMinRelativeSpread = 0.02;

// Empty when `score` is not an outlier of `group`; otherwise a readable
// sentence saying how far it lies ("score 2400 is 5.1 robust standard
// deviations above the median 1200 of 42 results of this GPU").
std::string OutlierReason(double score, const LeaderboardRow& group);

}  // namespace aiscore::collector

#endif  // AISCORE_COLLECTOR_SERVICE_OUTLIER_CHECK_H_
