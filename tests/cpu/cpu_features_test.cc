// Run-time CPU choices (agent/cpu/cpu_features.h).
#include "agent/cpu/cpu_features.h"

#include <gtest/gtest.h>

namespace aiscore {
namespace {

TEST(CpuFeaturesTest, StreamPrefetchIsForZen5AndLaterUnlessForced) {
  EXPECT_TRUE(StreamPrefetchFor(nullptr, 0x1a));
  EXPECT_TRUE(StreamPrefetchFor(nullptr, 0x1b));
  EXPECT_FALSE(StreamPrefetchFor(nullptr, 0x19));  // Zen 4
  EXPECT_FALSE(StreamPrefetchFor(nullptr, 0));     // not AMD
  EXPECT_TRUE(StreamPrefetchFor("1", 0x19));
  EXPECT_FALSE(StreamPrefetchFor("0", 0x1a));
  // Anything else is ignored.
  EXPECT_TRUE(StreamPrefetchFor("", 0x1a));
  EXPECT_FALSE(StreamPrefetchFor("yes", 0x19));
  EXPECT_TRUE(StreamPrefetchFor("10", 0x1a));
}

TEST(CpuFeaturesTest, AmdFamilyIsZeroOrAKnownFamily) {
  const unsigned family = AmdFamily();
  EXPECT_TRUE(family == 0 || (family >= 0x10 && family <= 0x30)) << family;
}

}  // namespace
}  // namespace aiscore
