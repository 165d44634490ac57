// A small fixed pool of std::threads for the CPU kernels. parallel_for splits [0, n) into one
// contiguous range per thread (the caller's thread works too) and returns when all are done.
// Kernels compute every output element with the same arithmetic whatever range it falls in, so
// results never depend on the number of threads. Owned by whoever runs the model; never global.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace kiln::cpu {

class ThreadPool {
 public:
  // num_threads <= 0 means std::thread::hardware_concurrency().
  explicit ThreadPool(int num_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(begin, end) over disjoint ranges covering [0, n). Not reentrant: fn must not call
  // parallel_for on the same pool. cost_per_item (about the multiply-adds one item takes) keeps
  // small jobs on fewer threads: waking a thread costs microseconds, which decode steps of small
  // models would otherwise spend mostly waiting. How [0, n) is split never changes the results.
  void parallel_for(int64_t n, const std::function<void(int64_t begin, int64_t end)>& fn,
                    int64_t cost_per_item = kMinChunkCost);

  // Work below this (multiply-adds) is not worth a thread of its own.
  static constexpr int64_t kMinChunkCost = 1 << 16;

 private:
  void worker_loop(int worker_index);
  void run_chunk(int chunk_index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  uint64_t generation_ = 0;  // bumped per parallel_for; workers wake on a change
  int pending_ = 0;          // workers still running the current job
  bool stopping_ = false;
  // The current job, valid while pending_ > 0.
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t job_size_ = 0;
  int num_chunks_ = 0;
};

}  // namespace kiln::cpu
