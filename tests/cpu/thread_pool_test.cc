#include "agent/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <set>
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
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (int64_t n : {0, 1, 7, 64, 1000}) {
      for (int64_t grain : {1, 3, 64, 5000}) {
        std::mutex mu;
        std::vector<int> seen(n, 0);
        pool.ParallelFor(n, grain, [&](int64_t b, int64_t e, int t) {
          EXPECT_LE(e - b, grain);
          EXPECT_LT(b, e);
          EXPECT_GE(t, 0);
          EXPECT_LT(t, threads);
          std::lock_guard<std::mutex> lock(mu);
          for (int64_t i = b; i < e; ++i) seen[i]++;
        });
        for (int64_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "n=" << n << " grain=" << grain;
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
