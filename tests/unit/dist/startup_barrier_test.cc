// The meeting before a tensor-parallel group's first collective: a rank that failed to start
// releases the others with an error naming it, instead of leaving them waiting.
#include "dist/startup_barrier.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace kiln::dist {
namespace {

// Every rank arrives from its own thread with statuses[r]; returns what each got back.
std::vector<Status> meet(const std::vector<Status>& statuses, StartupBarrier* barrier) {
  std::vector<Status> results(statuses.size());
  std::vector<std::thread> threads;
  for (size_t r = 0; r < statuses.size(); ++r) {
    threads.emplace_back([&, r] { results[r] = barrier->arrive(static_cast<int>(r), statuses[r]); });
  }
  for (std::thread& t : threads) t.join();
  return results;
}

TEST(StartupBarrierTest, EveryRankStartedMeansOk) {
  StartupBarrier barrier(4);
  for (const Status& s : meet(std::vector<Status>(4), &barrier)) EXPECT_TRUE(s.ok()) << s.message();
  EXPECT_FALSE(barrier.first_failure().has_value());
  EXPECT_TRUE(barrier.has_arrived(3));
}

TEST(StartupBarrierTest, AFailedRankStopsTheOthersAndIsNamed) {
  StartupBarrier barrier(4);
  std::vector<Status> statuses(4);
  statuses[3] = Status::error("out of GPU memory");
  statuses[1] = Status::error("bad tensor");
  const std::vector<Status> results = meet(statuses, &barrier);
  EXPECT_EQ(results[1].message(), "bad tensor");
  EXPECT_EQ(results[3].message(), "out of GPU memory");
  for (int r : {0, 2}) {
    ASSERT_FALSE(results[static_cast<size_t>(r)].ok());
    EXPECT_EQ(results[static_cast<size_t>(r)].message(), "stopped: tensor-parallel rank 1 failed to start");
  }
  ASSERT_TRUE(barrier.first_failure().has_value());
  const std::string first = barrier.first_failure()->message();
  EXPECT_NE(first.find("tensor-parallel rank 1"), std::string::npos) << first;
  EXPECT_NE(first.find("bad tensor"), std::string::npos) << first;
}

TEST(StartupBarrierTest, WaitsForTheLastRank) {
  StartupBarrier barrier(2);
  Status first;
  std::thread early([&] { first = barrier.arrive(0, ok_status()); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(barrier.has_arrived(0));
  EXPECT_FALSE(barrier.has_arrived(1));
  EXPECT_FALSE(barrier.arrive(1, Status::error("late failure")).ok());
  early.join();
  EXPECT_EQ(first.message(), "stopped: tensor-parallel rank 1 failed to start");
}

}  // namespace
}  // namespace kiln::dist
