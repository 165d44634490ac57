#include "kernels/cpu/thread_pool.h"

#include <algorithm>

namespace kiln::cpu {

ThreadPool::ThreadPool(int num_threads) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::thread::hardware_concurrency());
  num_threads = std::max(num_threads, 1);
  workers_.reserve(static_cast<size_t>(num_threads - 1));
  for (int i = 0; i < num_threads - 1; ++i) {
    workers_.emplace_back([this, i] { worker_loop(i); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::run_chunk(int chunk_index) {
  const int64_t begin = job_size_ * chunk_index / num_chunks_;
  const int64_t end = job_size_ * (chunk_index + 1) / num_chunks_;
  if (begin < end) (*job_)(begin, end);
}

void ThreadPool::parallel_for(int64_t n, const std::function<void(int64_t, int64_t)>& fn,
                              int64_t cost_per_item) {
  if (n <= 0) return;
  const int64_t total_cost = n * std::max<int64_t>(cost_per_item, 1);
  const int64_t worth = std::max<int64_t>(total_cost / kMinChunkCost, 1);
  const int chunks = static_cast<int>(std::min<int64_t>({n, num_threads(), worth}));
  if (chunks == 1) {
    fn(0, n);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_size_ = n;
    num_chunks_ = chunks;
    pending_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  work_ready_.notify_all();
  run_chunk(0);
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [this] { return pending_ == 0; });
  job_ = nullptr;
}

void ThreadPool::worker_loop(int worker_index) {
  uint64_t seen_generation = 0;
  while (true) {
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [&] { return stopping_ || generation_ != seen_generation; });
      if (stopping_) return;
      seen_generation = generation_;
    }
    // Chunk 0 is the caller's; worker i takes chunk i + 1 when there are that many.
    if (worker_index + 1 < num_chunks_) run_chunk(worker_index + 1);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) work_done_.notify_one();
    }
  }
}

}  // namespace kiln::cpu
