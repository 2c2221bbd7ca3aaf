#include "collector/service/outlier_check.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_format.h"

namespace aiscore::collector {

std::string OutlierReason(double score, const LeaderboardRow& group) {
  if (group.count < kMinOutlierGroup) return "";
  const double spread = std::max((group.p75 - group.p25) / 1.349,
                                 kMinRelativeSpread * std::abs(group.median));
  if (!(spread > 0)) return "";
  const double distance = (score - group.median) / spread;
  if (std::abs(distance) <= kOutlierRobustSds) return "";
  return absl::StrFormat(
      "score %.1f is %.1f robust standard deviations %s the median %.1f of %d results of %s; "
      "stored and flagged, not ranked",
      score, std::abs(distance), distance > 0 ? "above" : "below", group.median, group.count,
      group.gpu);
}

}  // namespace aiscore::collector
