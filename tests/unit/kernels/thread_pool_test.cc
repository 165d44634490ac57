#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace kiln::cpu {
namespace {

TEST(ThreadPoolTest, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.num_threads(), threads);
    for (int64_t n : {1, 2, 7, 100, 1001}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      for (int repeat = 0; repeat < 3; ++repeat) {
        pool.parallel_for(n, [&](int64_t begin, int64_t end) {
          for (int64_t i = begin; i < end; ++i) hits[static_cast<size_t>(i)]++;
        });
      }
      for (auto& h : hits) EXPECT_EQ(h.load(), 3);
    }
  }
}

TEST(ThreadPoolTest, SmallJobsStayOnTheCallingThread) {
  ThreadPool pool(4);
  const std::thread::id caller = std::this_thread::get_id();
  int calls = 0;
  pool.parallel_for(
      100,
      [&](int64_t begin, int64_t end) {
        EXPECT_EQ(std::this_thread::get_id(), caller);
        EXPECT_EQ(begin, 0);
        EXPECT_EQ(end, 100);
        ++calls;
      },
      /*cost_per_item=*/10);
  EXPECT_EQ(calls, 1);
  // Enough work for two chunks, not four.
  std::atomic<int> chunks = 0;
  pool.parallel_for(
      4, [&](int64_t, int64_t) { chunks++; }, ThreadPool::kMinChunkCost / 2);
  EXPECT_EQ(chunks.load(), 2);
}

TEST(ThreadPoolTest, ZeroWorkCallsNothing) {
  ThreadPool pool(4);
  bool called = false;
  pool.parallel_for(0, [&](int64_t, int64_t) { called = true; });
  EXPECT_FALSE(called);
}

}  // namespace
}  // namespace kiln::cpu
