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
