// RateLimiter on a fake clock (no sleeps: every time step is explicit), with
// PeerHost and ParseRateLimit.
#include "collector/service/rate_limiter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <barrier>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"

namespace aiscore::collector {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMs = 1000 * 1000;  // nanoseconds
constexpr int64_t kS = 1000 * kMs;

// A clock the test moves by hand; readable from any thread.
class FakeClock {
 public:
  RateLimiter::Clock AsClock() {
    return [this] { return now_ns_.load(); };
  }
  void Set(int64_t ns) { now_ns_.store(ns); }
  void Advance(int64_t ns) { now_ns_.fetch_add(ns); }
  int64_t now() const { return now_ns_.load(); }

 private:
  std::atomic<int64_t> now_ns_{0};
};

// Calls Allow(key) `calls` times and returns how many were allowed.
int CountAllowed(RateLimiter& limiter, std::string_view key, int calls) {
  int allowed = 0;
  for (int i = 0; i < calls; ++i) allowed += limiter.Allow(key) ? 1 : 0;
  return allowed;
}

TEST(RateLimiterTest, BurstThenRefusal) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 1, .burst = 3}, 100, clock.AsClock());
  EXPECT_TRUE(limiter.Allow("k"));
  EXPECT_TRUE(limiter.Allow("k"));
  EXPECT_TRUE(limiter.Allow("k"));
  EXPECT_FALSE(limiter.Allow("k"));
  EXPECT_FALSE(limiter.Allow("k"));
  EXPECT_EQ(limiter.bucket_count(), 1u);
}

TEST(RateLimiterTest, BurstBelowOneIsTakenAsOne) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 1, .burst = 0}, 100, clock.AsClock());
  EXPECT_EQ(CountAllowed(limiter, "k", 10), 1);
}

TEST(RateLimiterTest, RefillsAtTheConfiguredRate) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 10, .burst = 5}, 100, clock.AsClock());
  EXPECT_EQ(CountAllowed(limiter, "k", 100), 5);
  clock.Advance(100 * kMs);  // 1 token
  EXPECT_EQ(CountAllowed(limiter, "k", 100), 1);
  clock.Advance(250 * kMs);  // 2.5 tokens
  EXPECT_EQ(CountAllowed(limiter, "k", 100), 2);
  clock.Advance(50 * kMs);  // the half token left plus 0.5
  EXPECT_EQ(CountAllowed(limiter, "k", 100), 1);
}

TEST(RateLimiterTest, ExactCountOverOneMinuteInMillisecondSteps) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 10, .burst = 5}, 100, clock.AsClock());
  int allowed = 0;
  for (int ms = 0; ms <= 60 * 1000; ++ms) {
    clock.Set(ms * kMs);
    allowed += CountAllowed(limiter, "k", 3);
  }
  EXPECT_EQ(allowed, 5 + 10 * 60);
}

TEST(RateLimiterTest, FractionalRate) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 0.1, .burst = 1}, 100, clock.AsClock());
  int allowed = 0;
  for (int ms = 0; ms <= 100 * 1000; ++ms) {  // 100 s: the first token, then one per 10 s
    clock.Set(ms * kMs);
    allowed += limiter.Allow("k") ? 1 : 0;
  }
  EXPECT_EQ(allowed, 1 + 10);
}

TEST(RateLimiterTest, RetryAfterIsTheTimeToTheNextToken) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 2, .burst = 1}, 100, clock.AsClock());
  absl::Duration retry_after = absl::InfiniteDuration();
  EXPECT_TRUE(limiter.Allow("k", &retry_after));
  EXPECT_EQ(retry_after, absl::ZeroDuration());
  EXPECT_FALSE(limiter.Allow("k", &retry_after));
  EXPECT_EQ(retry_after, absl::Milliseconds(500));
  clock.Advance(200 * kMs);
  EXPECT_FALSE(limiter.Allow("k", &retry_after));
  EXPECT_EQ(retry_after, absl::Milliseconds(300));
  clock.Advance(300 * kMs - 1);
  EXPECT_FALSE(limiter.Allow("k", &retry_after));
  EXPECT_EQ(retry_after, absl::Nanoseconds(1));
  clock.Advance(1);
  EXPECT_TRUE(limiter.Allow("k", &retry_after));
}

TEST(RateLimiterTest, RetryAfterAtAFractionalRate) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 0.1, .burst = 1}, 100, clock.AsClock());
  absl::Duration retry_after;
  EXPECT_TRUE(limiter.Allow("k"));
  EXPECT_FALSE(limiter.Allow("k", &retry_after));
  EXPECT_EQ(retry_after, absl::Seconds(10));
  clock.Advance(absl::ToInt64Nanoseconds(retry_after));
  EXPECT_TRUE(limiter.Allow("k"));
}

TEST(RateLimiterTest, DisabledLimitAlwaysAllows) {
  FakeClock clock;
  for (RateLimit limit :
       {RateLimit{}, RateLimit{.per_second = -1, .burst = 5},
        RateLimit{.per_second = std::numeric_limits<double>::infinity(), .burst = 1}}) {
    EXPECT_FALSE(limit.enabled());
    RateLimiter limiter(limit, 100, clock.AsClock());
    absl::Duration retry_after = absl::InfiniteDuration();
    for (int i = 0; i < 1000; ++i) {
      ASSERT_TRUE(limiter.Allow(absl::StrCat("key-", i % 7), &retry_after));
    }
    EXPECT_EQ(retry_after, absl::ZeroDuration());
    EXPECT_EQ(limiter.bucket_count(), 0u);
  }
}

TEST(RateLimiterTest, KeysAreIndependent) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 1, .burst = 2}, 100, clock.AsClock());
  EXPECT_EQ(CountAllowed(limiter, "a", 10), 2);
  EXPECT_EQ(CountAllowed(limiter, "b", 10), 2);
  EXPECT_EQ(CountAllowed(limiter, "c", 10), 2);
  clock.Advance(kS);
  EXPECT_EQ(CountAllowed(limiter, "a", 10), 1);
  EXPECT_EQ(CountAllowed(limiter, "d", 10), 2);
  EXPECT_EQ(limiter.bucket_count(), 4u);
}

TEST(RateLimiterTest, ClockGoingBackwardsAddsNothing) {
  FakeClock clock;
  clock.Set(10 * kS);
  RateLimiter limiter({.per_second = 1, .burst = 2}, 100, clock.AsClock());
  EXPECT_TRUE(limiter.Allow("k"));  // one token left
  clock.Set(0);
  EXPECT_TRUE(limiter.Allow("k"));  // the token left is still there: no negative refill
  absl::Duration retry_after;
  EXPECT_FALSE(limiter.Allow("k", &retry_after));
  // The refill resumes once the clock is back at 10 s.
  EXPECT_EQ(retry_after, absl::Seconds(10 + 1));
  clock.Set(10 * kS + 999 * kMs);
  EXPECT_FALSE(limiter.Allow("k"));
  clock.Set(11 * kS);
  EXPECT_TRUE(limiter.Allow("k"));
  EXPECT_FALSE(limiter.Allow("k"));
}

TEST(RateLimiterTest, HugeGapRefillsToBurstOnly) {
  FakeClock clock;
  clock.Set(std::numeric_limits<int64_t>::min() + 1);
  RateLimiter limiter({.per_second = 1000, .burst = 3}, 100, clock.AsClock());
  EXPECT_EQ(CountAllowed(limiter, "k", 10), 3);
  clock.Set(std::numeric_limits<int64_t>::max());  // a gap that overflows int64 when subtracted
  EXPECT_EQ(CountAllowed(limiter, "k", 10), 3);
}

TEST(RateLimiterTest, BucketCountStaysBoundedAndNonFullBucketsSurvive) {
  constexpr size_t kMaxBuckets = 1000;
  constexpr int kKeys = 1000 * 1000;
  FakeClock clock;
  RateLimiter limiter({.per_second = 1, .burst = 5}, kMaxBuckets, clock.AsClock());
  EXPECT_EQ(CountAllowed(limiter, "victim", 10), 5);  // drained at t = 0

  // One million new keys over 4 s, one call each: each such bucket is full
  // again 1 s after its call, so sweeps can drop it. The victim's is not
  // full before 5 s.
  int attacker_allowed = 0;
  for (int i = 0; i < kKeys; ++i) {
    clock.Set(int64_t{i} * 4000);
    attacker_allowed += limiter.Allow(absl::StrCat("key-", i)) ? 1 : 0;
    if (limiter.bucket_count() > kMaxBuckets) {
      ADD_FAILURE() << "bucket_count " << limiter.bucket_count() << " after key " << i;
      break;
    }
  }
  EXPECT_EQ(limiter.bucket_count(), kMaxBuckets);
  // Without eviction, only the first ~kMaxBuckets keys (plus the overflow
  // bucket's few tokens) would have been allowed; from 1 s on, sweeps made
  // room for about kMaxBuckets more each second.
  EXPECT_GT(attacker_allowed, 3 * static_cast<int>(kMaxBuckets));
  // And no more than fair: a slot serves a new key at most once a second
  // (its bucket is full again 1 s after its one token), so 4 keys per slot in
  // 4 s, plus the overflow bucket's 5 + 4 tokens.
  EXPECT_LE(attacker_allowed, 4 * static_cast<int>(kMaxBuckets) + 5 + 4);

  // The victim refilled 4 tokens in 4 s: its bucket was kept, not reset to 5.
  clock.Set(4 * kS);
  EXPECT_EQ(CountAllowed(limiter, "victim", 10), 4);
}

TEST(RateLimiterTest, SweepMakesRoomAndKeysWithoutRoomShareOneBucket) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 1, .burst = 2}, 1, clock.AsClock());
  EXPECT_TRUE(limiter.Allow("a"));  // the one bucket: a, 1 token left
  // No room for x or y (a's bucket is not full): they share the overflow bucket.
  EXPECT_EQ(CountAllowed(limiter, "x", 10), 2);
  EXPECT_FALSE(limiter.Allow("y"));
  EXPECT_EQ(limiter.bucket_count(), 1u);

  clock.Advance(kS);  // a is full again; the overflow bucket has 1 token
  // y's call sweeps a away and y gets a bucket of its own, with 2 tokens.
  EXPECT_EQ(CountAllowed(limiter, "y", 10), 2);
  EXPECT_EQ(limiter.bucket_count(), 1u);
  // a has no room now (y is not full, and the sweep just ran): the overflow's 1 token.
  EXPECT_EQ(CountAllowed(limiter, "a", 10), 1);
}

TEST(RateLimiterTest, ZeroMaxBucketsSharesTheOverflowBucket) {
  FakeClock clock;
  RateLimiter limiter({.per_second = 1, .burst = 2}, 0, clock.AsClock());
  EXPECT_TRUE(limiter.Allow("a"));
  EXPECT_TRUE(limiter.Allow("b"));
  EXPECT_FALSE(limiter.Allow("c"));
  EXPECT_EQ(limiter.bucket_count(), 0u);
}

// 8 threads take from one key in lock step: every phase all of them call at
// the same fake time, far more often than there are tokens, then the clock
// moves on 100 ms. The total is exactly burst + rate * elapsed.
TEST(RateLimiterTest, ThreadsShareOneBucketExactly) {
  constexpr int kThreads = 8;
  constexpr int kPhases = 11;  // 10 steps of 100 ms: 1 s in all
  constexpr int kCallsPerPhase = 200;
  FakeClock clock;
  RateLimiter limiter({.per_second = 50, .burst = 20}, 100, clock.AsClock());
  std::atomic<int> allowed{0};
  std::barrier step(kThreads, [&]() noexcept { clock.Advance(100 * kMs); });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int phase = 0; phase < kPhases; ++phase) {
        int mine = 0;
        for (int i = 0; i < kCallsPerPhase; ++i) {
          mine += limiter.Allow("shared") ? 1 : 0;
          limiter.Allow(absl::StrCat("own-", t));  // other keys on the way
        }
        allowed += mine;
        step.arrive_and_wait();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(allowed.load(), 20 + 50 * 1);
}

// The same with a clock that moves 1 us on every reading, so readings reach
// the limiter out of order: the bucket never hands out more than burst +
// rate * elapsed, and (demand far above supply) only the fraction of a
// token left at the end less than that.
TEST(RateLimiterTest, ThreadsWithARunningClock) {
  constexpr int kThreads = 8;
  constexpr int kCalls = 100 * 1000;
  std::atomic<int64_t> now_ns{0};
  RateLimiter limiter({.per_second = 50, .burst = 20}, 100, [&] { return now_ns.fetch_add(1000); });
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      int mine = 0;
      for (int i = 0; i < kCalls; ++i) mine += limiter.Allow("shared") ? 1 : 0;
      allowed += mine;
    });
  }
  for (std::thread& thread : threads) thread.join();
  const double elapsed_s = static_cast<double>(now_ns.load()) / kS;  // 0.8 s
  EXPECT_LE(allowed.load(), 20 + 50 * elapsed_s);
  EXPECT_GE(allowed.load(), 20 + 50 * elapsed_s - 2);
}

TEST(PeerHostTest, Ipv4DropsThePort) {
  EXPECT_EQ(PeerHost("ipv4:127.0.0.1:54321"), "127.0.0.1");
  EXPECT_EQ(PeerHost("ipv4:1.2.3.4:555"), "1.2.3.4");
  EXPECT_EQ(PeerHost("ipv4:1.2.3.4:556"), PeerHost("ipv4:1.2.3.4:555"));
}

TEST(PeerHostTest, Ipv6IsItsSlash64) {
  EXPECT_EQ(PeerHost("ipv6:[::1]:5555"), "0:0:0:0::/64");
  EXPECT_EQ(PeerHost("ipv6:[2001:db8::1]:5"), "2001:db8:0:0::/64");
  EXPECT_EQ(PeerHost("ipv6:[2001:db8::ffff:2]:6"), "2001:db8:0:0::/64");
  EXPECT_EQ(PeerHost("ipv6:[2001:DB8:0:0:1:2:3:4]:7"), "2001:db8:0:0::/64");
  EXPECT_EQ(PeerHost("ipv6:[2001:db8:0:1::1]:5"), "2001:db8:0:1::/64");
}

TEST(PeerHostTest, Ipv6PercentEncodedAsGrpcWritesIt) {
  EXPECT_EQ(PeerHost("ipv6:%5B2001:db8::1%5D:5"), "2001:db8:0:0::/64");
  EXPECT_EQ(PeerHost("ipv6:%5b::1%5d:5555"), "0:0:0:0::/64");
  EXPECT_EQ(PeerHost("ipv6:%5Bfe80::1%25eth0%5D:5"), "fe80:0:0:0::/64");
}

TEST(PeerHostTest, Ipv4MappedIpv6IsTheIpv4Host) {
  EXPECT_EQ(PeerHost("ipv6:[::ffff:10.0.0.7]:80"), "10.0.0.7");
  EXPECT_EQ(PeerHost("ipv6:%5B::ffff:127.0.0.1%5D:80"), "127.0.0.1");
}

TEST(PeerHostTest, AnythingElseIsItself) {
  for (const char* peer :
       {"unix:/tmp/collector.sock", "unix-abstract:collector", "", "garbage",
        "ipv4:", "ipv4:999.1.1.1:5", "ipv4:1.2.3.4:port", "ipv4:1.2.3:5", "ipv6:", "ipv6:::1:5",
        "ipv6:[::1", "ipv6:[zz::1]:5", "ipv6:[::1]:x", "ipv6:%5", "ipv6:%zz::1%5D:5"}) {
    EXPECT_EQ(PeerHost(peer), peer);
  }
}

TEST(ParseRateLimitTest, Disabled) {
  for (const char* text : {"0", "off", "OFF", " 0 "}) {
    absl::StatusOr<RateLimit> limit = ParseRateLimit(text);
    ASSERT_TRUE(limit.ok()) << text << ": " << limit.status();
    EXPECT_FALSE(limit->enabled()) << text;
  }
}

TEST(ParseRateLimitTest, GoodValues) {
  struct Case {
    const char* text;
    double per_second;
    double burst;
  };
  for (const Case& c :
       {Case{"10/s", 10, 10}, Case{"600/m:50", 10, 50}, Case{"1/10s", 0.1, 1},
        Case{"0.5/s", 0.5, 1}, Case{"100/h:5", 100.0 / 3600, 5}, Case{"30/15m:3", 30.0 / 900, 3},
        Case{"2.5/s", 2.5, 3}, Case{" 5/h ", 5.0 / 3600, 5}, Case{"1/1.5s:2", 1 / 1.5, 2}}) {
    absl::StatusOr<RateLimit> limit = ParseRateLimit(c.text);
    ASSERT_TRUE(limit.ok()) << c.text << ": " << limit.status();
    EXPECT_TRUE(limit->enabled()) << c.text;
    EXPECT_DOUBLE_EQ(limit->per_second, c.per_second) << c.text;
    EXPECT_EQ(limit->burst, c.burst) << c.text;
  }
}

TEST(ParseRateLimitTest, BadValuesSayWhatIsWrong) {
  struct Case {
    const char* text;
    const char* problem;
  };
  for (const Case& c : {
           Case{"", "no '/'"},
           Case{"abc", "no '/'"},
           Case{"10", "no '/'"},
           Case{"/s", "COUNT \"\" is not a number"},
           Case{"x/s", "COUNT \"x\" is not a number"},
           Case{"inf/s", "is not a number"},
           Case{"nan/s", "is not a number"},
           Case{"-1/s", "COUNT must be > 0"},
           Case{"0/s", "write 0 or off for no limit"},
           Case{"10/", "PERIOD \"\" does not end in s, m or h"},
           Case{"10/x", "PERIOD \"x\" does not end in s, m or h"},
           Case{"10/sec", "PERIOD \"sec\" does not end in s, m or h"},
           Case{"10/0s", "PERIOD \"0s\" is not a positive length"},
           Case{"10/-1s", "PERIOD \"-1s\" is not a positive length"},
           Case{"10//s", "PERIOD \"/s\" is not a positive length"},
           Case{"10/s:", "BURST \"\" is not a whole number >= 1"},
           Case{"10/s:0", "BURST \"0\" is not a whole number >= 1"},
           Case{"10/s:1.5", "BURST \"1.5\" is not a whole number >= 1"},
           Case{"10/s:5:6", "BURST \"5:6\" is not a whole number >= 1"},
       }) {
    absl::StatusOr<RateLimit> limit = ParseRateLimit(c.text);
    ASSERT_FALSE(limit.ok()) << c.text;
    EXPECT_EQ(limit.status().code(), absl::StatusCode::kInvalidArgument) << c.text;
    EXPECT_THAT(limit.status().message(), HasSubstr(c.problem)) << c.text;
    EXPECT_THAT(limit.status().message(), HasSubstr(absl::StrCat("\"", c.text, "\"")));
    EXPECT_THAT(limit.status().message(), HasSubstr("COUNT/PERIOD[:BURST]"));
  }
}

}  // namespace
}  // namespace aiscore::collector
