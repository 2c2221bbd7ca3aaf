#include "agent/cpu/thread_pool.h"

#include <algorithm>
#include <utility>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AISCORE_CPU_RELAX() _mm_pause()
#else
#define AISCORE_CPU_RELAX() std::this_thread::yield()
#endif

namespace aiscore {
namespace {
// Spin iterations before a worker sleeps: roughly 50-100 microseconds.
constexpr int kSpinIterations = 20000;

// ParallelForShares takes this fraction of what is left of a share at a
// time (at least one unit): long stretches while much is left, single units
// at the end, so that threads finish within a unit of each other.
constexpr uint64_t kGuidedShare = 4;

// What ParallelFor and ParallelForShares do alike: clamps *grain to at
// least 1 and, where there is nothing to share (no work, one thread, or one
// chunk), calls fn on the chunks in order on this thread and returns true.
bool RanInOrder(int threads, int64_t n, int64_t* grain,
                const std::function<void(int64_t, int64_t, int)>& fn) {
  *grain = std::max<int64_t>(1, *grain);
  if (n > 0 && threads > 1 && n > *grain) return false;
  for (int64_t begin = 0; begin < n; begin += *grain) fn(begin, std::min(n, begin + *grain), 0);
  return true;
}
}  // namespace

ThreadPool::ThreadPool(int n_threads) : n_threads_(std::max(1, n_threads)) {
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { WorkerLoop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::Run(const std::function<void(int)>& fn) {
  if (n_threads_ == 1) {
    fn(0);
    return;
  }
  job_ = &fn;
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  generation_.notify_all();
  fn(0);
  // Spin while the workers are likely to finish soon; then yield, so that a
  // worker preempted by another process gets the core back.
  for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin) {
    if (spin < kSpinIterations) {
      AISCORE_CPU_RELAX();
    } else {
      std::this_thread::yield();
    }
  }
  job_ = nullptr;
}

void ThreadPool::ParallelFor(int64_t n, int64_t grain,
                             const std::function<void(int64_t, int64_t, int)>& fn) {
  if (RanInOrder(n_threads_, n, &grain, fn)) return;
  std::atomic<int64_t> next{0};
  Run([&](int thread) {
    for (;;) {
      const int64_t begin = next.fetch_add(grain, std::memory_order_relaxed);
      if (begin >= n) break;
      fn(begin, std::min(n, begin + grain), thread);
    }
  });
}

void ThreadPool::ParallelForShares(int64_t n, int64_t grain,
                                   const std::function<void(int64_t, int64_t, int)>& fn) {
  if (RanInOrder(n_threads_, n, &grain, fn)) return;
  const int64_t units = (n + grain - 1) / grain;
  // Share t is units [first(t), first(t + 1)). Its word holds how many units
  // were taken from its front (low half) and from its back (high half); a
  // chunk is taken by one compare-exchange, so the two ends never take the
  // same unit.
  const int threads = n_threads_;
  auto first = [&](int t) { return units * t / threads; };
  // A cache line each: a thread's takes from its own share do not steal
  // the line of the share another thread is taking from.
  struct alignas(64) Word {
    std::atomic<uint64_t> v{0};
  };
  std::vector<Word> words(threads);
  // Takes the next chunk of share t from its front or its back: its first
  // unit and how many (0 when the share is done).
  auto take = [&](int t, bool front) -> std::pair<int64_t, int64_t> {
    const uint64_t size = static_cast<uint64_t>(first(t + 1) - first(t));
    std::atomic<uint64_t>& taken = words[t].v;
    uint64_t v = taken.load(std::memory_order_relaxed);
    for (;;) {
      const uint64_t f = v & 0xffffffffu, b = v >> 32;
      if (f + b >= size) return {0, 0};
      const uint64_t count = std::max<uint64_t>(1, (size - f - b) / kGuidedShare);
      if (taken.compare_exchange_weak(v, v + (front ? count : count << 32),
                                      std::memory_order_relaxed)) {
        return {first(t) + static_cast<int64_t>(front ? f : size - b - count),
                static_cast<int64_t>(count)};
      }
    }
  };
  auto run = [&](std::pair<int64_t, int64_t> chunk, int thread) {
    const int64_t begin = chunk.first * grain;
    fn(begin, std::min(n, begin + chunk.second * grain), thread);
  };
  Run([&](int thread) {
    for (std::pair<int64_t, int64_t> c; (c = take(thread, true)).second > 0;) run(c, thread);
    for (int other = 1; other < threads; ++other) {
      const int t = (thread + other) % threads;
      for (std::pair<int64_t, int64_t> c; (c = take(t, false)).second > 0;) run(c, thread);
    }
  });
}

void ThreadPool::WorkerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t now = generation_.load(std::memory_order_acquire);
    for (int spin = 0; now == seen && spin < kSpinIterations; ++spin) {
      AISCORE_CPU_RELAX();
      now = generation_.load(std::memory_order_acquire);
    }
    if (now == seen) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = now;
    if (stop_.load(std::memory_order_acquire)) return;
    (*job_)(index);
    pending_.fetch_sub(1, std::memory_order_acq_rel);
  }
}

}  // namespace aiscore
