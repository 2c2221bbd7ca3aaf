#include "agent/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <algorithm>
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
// another share's from its back towards its front. The last thread's first
// chunk waits until another thread has taken some of its share, so that the
// test does not hang on the scheduler to see a share helped. Chunks shrink
// from either end towards the point where the two ends meet, and the chunk
// that empties a share is a single unit, so that threads finish together.
// Only what holds whichever thread runs first is checked: a thread woken
// late may find nothing left, and one slowed in a big chunk may find that
// others took the rest while it ran.
TEST(ThreadPoolTest, ParallelForSharesWalksEachShareInOrder) {
  for (int threads : {2, 3}) {
    for (int rep = 0; rep < 20; ++rep) {
      ThreadPool pool(threads);
      const int64_t units = 400;
      auto share_begin = [&](int s) { return units * s / threads; };
      auto share_of = [&](int64_t u) {
        for (int s = 0;; ++s) {
          if (u < share_begin(s + 1)) return s;
        }
      };
      const int slowed = threads - 1;
      std::atomic<bool> helped{false};
      std::mutex mu;
      // [begin, end) of each chunk, in the order taken, per thread.
      std::vector<std::vector<std::pair<int64_t, int64_t>>> taken(threads);
      pool.ParallelForShares(units, 1, [&](int64_t b, int64_t e, int t) {
        if (t != slowed && share_of(b) == slowed) helped.store(true);
        if (t == slowed && taken[t].empty()) {
          const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(10);
          while (!helped.load() && std::chrono::steady_clock::now() < give_up) {
            std::this_thread::yield();
          }
        }
        std::lock_guard<std::mutex> lock(mu);
        taken[t].emplace_back(b, e);
      });
      EXPECT_TRUE(helped.load()) << "the slowed thread's share was helped from its back";
      for (int s = 0; s < threads; ++s) {
        // The owner's chunks are a prefix of its share, in order, shrinking.
        int64_t front_end = share_begin(s);
        std::vector<std::pair<int64_t, int64_t>> all;
        for (size_t i = 0; i < taken[s].size(); ++i) {
          const auto& c = taken[s][i];
          if (share_of(c.first) != s) continue;  // helping another share
          EXPECT_EQ(c.first, front_end) << "share " << s;
          front_end = c.second;
          if (!all.empty()) {
            EXPECT_LE(c.second - c.first, all.back().second - all.back().first);
          }
          all.push_back(c);
        }
        // Each helper's chunks come from the back, in order, shrinking.
        for (int t = 0; t < threads; ++t) {
          if (t == s) continue;
          std::vector<std::pair<int64_t, int64_t>> mine;
          for (const auto& c : taken[t]) {
            if (share_of(c.first) != s) continue;
            EXPECT_EQ(share_of(c.second - 1), s) << "a chunk within one share";
            EXPECT_GE(c.first, front_end) << "thread " << t << " share " << s;
            if (!mine.empty()) {
              EXPECT_LE(c.second, mine.back().first) << "thread " << t << " share " << s;
              EXPECT_LE(c.second - c.first, mine.back().second - mine.back().first);
            }
            mine.push_back(c);
            all.push_back(c);
          }
        }
        // Together they cover the share once, and where the two ends met
        // one of the chunks on either side is a single unit.
        std::sort(all.begin(), all.end());
        int64_t at = share_begin(s);
        int64_t single_at_meeting = 0;
        for (const auto& c : all) {
          EXPECT_EQ(c.first, at) << "share " << s;
          at = c.second;
          if ((c.second == front_end || c.first == front_end) && c.second - c.first == 1) {
            ++single_at_meeting;
          }
        }
        EXPECT_EQ(at, share_begin(s + 1)) << "share " << s;
        EXPECT_GT(single_at_meeting, 0) << "share " << s;
      }
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
