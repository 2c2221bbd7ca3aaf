#include "agent/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
#include <utility>
#include <vector>

namespace aiscore {
namespace {

TEST(ThreadPoolTest, RunCallsEveryThreadIndexOnce) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    std::vector<std::atomic<int>> calls(n);
    for (int rep = 0; rep < 200; ++rep) pool.Run([&](int t) { calls[t]++; });
    for (int t = 0; t < n; ++t) EXPECT_EQ(calls[t].load(), 200) << n << " threads";
  }
}

TEST(ThreadPoolTest, ParallelForCoversTheRangeOnceInChunksOfGrain) {
  for (bool shares : {false, true}) {
    for (int threads : {1, 2, 4}) {
      ThreadPool pool(threads);
      for (int64_t n : {0, 1, 7, 64, 1000}) {
        for (int64_t grain : {1, 3, 64, 5000}) {
          std::mutex mu;
          std::vector<int> seen(n, 0);
          auto fn = [&](int64_t b, int64_t e, int t) {
            if (shares) {  // whole units of grain, but for the last
              EXPECT_TRUE((e - b) % grain == 0 || e == n) << b << " " << e;
            } else {
              EXPECT_LE(e - b, grain);
            }
            EXPECT_LT(b, e);
            EXPECT_EQ(b % grain, 0);
            EXPECT_GE(t, 0);
            EXPECT_LT(t, threads);
            std::lock_guard<std::mutex> lock(mu);
            for (int64_t i = b; i < e; ++i) seen[i]++;
          };
          if (shares) {
            pool.ParallelForShares(n, grain, fn);
          } else {
            pool.ParallelFor(n, grain, fn);
          }
          for (int64_t i = 0; i < n; ++i) {
            ASSERT_EQ(seen[i], 1) << "n=" << n << " grain=" << grain << " shares=" << shares;
          }
        }
      }
    }
  }
}

// Each thread takes its own share's chunks front to back, and any of
// another share's from its back towards its front (the last thread is slowed
// down so that the others come to take some of its share). Chunks shrink
// from either end towards the point where the two ends meet, down to one
// unit, so that threads finish together.
TEST(ThreadPoolTest, ParallelForSharesWalksEachShareInOrder) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    const int64_t units = 400;
    std::mutex mu;
    // [begin, end) of each chunk, in the order taken, per thread.
    std::vector<std::vector<std::pair<int64_t, int64_t>>> taken(threads);
    pool.ParallelForShares(units, 1, [&](int64_t b, int64_t e, int t) {
      if (t == threads - 1) std::this_thread::sleep_for(std::chrono::microseconds(200 * (e - b)));
      std::lock_guard<std::mutex> lock(mu);
      taken[t].emplace_back(b, e);
    });
    auto share_begin = [&](int s) { return units * s / threads; };
    auto share_of = [&](int64_t u) {
      for (int s = 0;; ++s) {
        if (u < share_begin(s + 1)) return s;
      }
    };
    std::vector<int64_t> front_end(threads);
    for (int t = 0; t < threads; ++t) {
      std::vector<std::vector<std::pair<int64_t, int64_t>>> by_share(threads);
      for (const auto& c : taken[t]) {
        EXPECT_EQ(share_of(c.first), share_of(c.second - 1)) << "a chunk within one share";
        by_share[share_of(c.first)].push_back(c);
      }
      const auto& own = by_share[t];
      front_end[t] = share_begin(t);
      for (size_t i = 0; i < own.size(); ++i) {  // a prefix of its share, in order
        EXPECT_EQ(own[i].first, front_end[t]) << "thread " << t;
        front_end[t] = own[i].second;
        if (i > 0) {
          EXPECT_LE(own[i].second - own[i].first, own[i - 1].second - own[i - 1].first);
        }
      }
      for (int s = 0; s < threads; ++s) {
        if (s == t) continue;
        const auto& other = by_share[s];
        for (size_t i = 1; i < other.size(); ++i) {  // from the back, in order, shrinking
          EXPECT_EQ(other[i].second, other[i - 1].first) << "thread " << t << " share " << s;
          EXPECT_LE(other[i].second - other[i].first, other[i - 1].second - other[i - 1].first);
        }
      }
    }
    // The slowed thread's share was helped from its back, and every
    // thread's last chunk was a single unit (a thread woken late may have
    // found nothing left).
    int64_t helped = 0;
    for (int t = 0; t < threads - 1; ++t) {
      for (const auto& c : taken[t]) helped += c.first >= share_begin(threads - 1) ? 1 : 0;
    }
    EXPECT_GT(helped, 0);
    for (int t = 0; t < threads; ++t) {
      if (taken[t].empty()) continue;
      EXPECT_EQ(taken[t].back().second - taken[t].back().first, 1) << "thread " << t;
    }
  }
}

// Regression: with one thread, ParallelFor handed the whole range to one call,
// which lost the matmul driver's cache blocking by row chunks.
TEST(ThreadPoolTest, SingleThreadStillSplitsIntoChunks) {
  ThreadPool pool(1);
  int calls = 0;
  pool.ParallelFor(100, 10, [&](int64_t b, int64_t e, int) {
    EXPECT_EQ(e - b, 10);
    ++calls;
  });
  EXPECT_EQ(calls, 10);
}

}  // namespace
}  // namespace aiscore
