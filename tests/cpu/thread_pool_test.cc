#include "agent/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <thread>
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
            EXPECT_LE(e - b, grain);
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
// down so that the others come to take some of its share).
TEST(ThreadPoolTest, ParallelForSharesWalksEachShareInOrder) {
  for (int threads : {2, 3}) {
    ThreadPool pool(threads);
    const int64_t chunks = 40;
    std::mutex mu;
    std::vector<std::vector<int64_t>> taken(threads);  // chunk indices, in the order taken
    pool.ParallelForShares(chunks, 1, [&](int64_t b, int64_t, int t) {
      if (t == threads - 1) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      std::lock_guard<std::mutex> lock(mu);
      taken[t].push_back(b);
    });
    auto share_of = [&](int64_t c) {
      for (int s = 0;; ++s) {
        if (c < chunks * (s + 1) / threads) return s;
      }
    };
    for (int t = 0; t < threads; ++t) {
      std::vector<std::vector<int64_t>> by_share(threads);
      for (int64_t c : taken[t]) by_share[share_of(c)].push_back(c);
      const std::vector<int64_t>& own = by_share[t];
      for (size_t i = 0; i < own.size(); ++i) {  // a prefix of its share, in order
        EXPECT_EQ(own[i], chunks * t / threads + static_cast<int64_t>(i)) << "thread " << t;
      }
      for (int s = 0; s < threads; ++s) {
        if (s == t) continue;
        for (size_t i = 1; i < by_share[s].size(); ++i) {  // from the back, in order
          EXPECT_EQ(by_share[s][i], by_share[s][i - 1] - 1) << "thread " << t << " share " << s;
        }
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
