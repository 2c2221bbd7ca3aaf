// A fixed set of threads that run one parallel region at a time.
//
// Run(fn) calls fn(t) for every thread index t in [0, size()) at once, the
// calling thread being index 0, and returns when all are done. Between
// regions workers spin briefly (decode issues hundreds of short regions per
// token), then sleep on an atomic wait. Only one thread may call Run or
// ParallelFor at a time; the pool is not reentrant.
#ifndef AISCORE_AGENT_CPU_THREAD_POOL_H_
#define AISCORE_AGENT_CPU_THREAD_POOL_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

namespace aiscore {

// The work of ParallelForShares, for callers that run their own region
// (ThreadPool::Run) and walk several such stretches in it: [0, units) in
// one contiguous share per thread; Walk(t, fn) takes chunks of thread t's
// own share front to back, then what is left of the others' from their
// ends, as ParallelForShares describes. Made before the region, walked by
// every thread in it once.
class WorkShares {
 public:
  WorkShares(int64_t units, int threads);
  WorkShares(const WorkShares&) = delete;
  WorkShares& operator=(const WorkShares&) = delete;

  // Calls fn(first_unit, count) for each chunk thread t takes.
  template <typename Fn>
  void Walk(int t, Fn&& fn) {
    for (Chunk c; (c = Take(t, true)).count > 0;) fn(c.first, c.count);
    for (int other = 1; other < threads_; ++other) {
      const int s = (t + other) % threads_;
      for (Chunk c; (c = Take(s, false)).count > 0;) fn(c.first, c.count);
    }
  }

 private:
  struct Chunk {
    int64_t first = 0, count = 0;
  };
  // A cache line each: a thread's takes from its own share do not steal
  // the line of the share another thread is taking from.
  struct alignas(64) Word {
    std::atomic<uint64_t> v{0};
  };
  int64_t First(int t) const { return units_ * t / threads_; }  // share t's first unit
  // The next chunk of share t from its front or its back (count 0 when the share is done).
  Chunk Take(int t, bool front);

  const int64_t units_;
  const int threads_;
  std::vector<Word> words_;  // [share]: units taken from its front (low half) and back (high half)
};

// Holds the threads of a region (ThreadPool::Run) until all of them reach
// Wait(): they spin, then yield, as the pool's workers do.
class SpinBarrier {
 public:
  explicit SpinBarrier(int threads) : threads_(threads) {}
  void Wait();

 private:
  const int threads_;
  alignas(64) std::atomic<int> arrived_{0};
  alignas(64) std::atomic<uint32_t> phase_{0};
};

class ThreadPool {
 public:
  explicit ThreadPool(int n_threads);  // total threads, the caller included; at least 1
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return n_threads_; }

  // Calls fn(thread_index) on every thread and waits for all of them.
  void Run(const std::function<void(int thread)>& fn);

  // Splits [0, n) into chunks of `grain` handed out dynamically, and calls
  // fn(begin, end, thread) for each chunk.
  void ParallelFor(int64_t n, int64_t grain,
                   const std::function<void(int64_t begin, int64_t end, int thread)>& fn);

  // Splits [0, n) into units of `grain` and into one contiguous share of
  // units per thread. Each thread first takes chunks of its own share in
  // order, then those left of the others' shares, from their ends: each
  // thread walks one stretch of memory front to back (what the hardware
  // prefetchers follow, and a stream's prefetches run on into its next
  // chunk), and a thread slowed down is still helped. A chunk is a quarter
  // of what is left of its share, or one unit, so that the threads finish
  // within about one unit of each other. Calls fn(begin, end, thread) for
  // each chunk; begin is a multiple of grain, and so is end - begin unless
  // end is n.
  void ParallelForShares(int64_t n, int64_t grain,
                         const std::function<void(int64_t begin, int64_t end, int thread)>& fn);

 private:
  void WorkerLoop(int index);

  const int n_threads_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  std::atomic<uint64_t> generation_{0};  // bumped to start a region
  std::atomic<int> pending_{0};          // workers still running the region
  std::atomic<bool> stop_{false};
};

}  // namespace aiscore

#endif  // AISCORE_AGENT_CPU_THREAD_POOL_H_
