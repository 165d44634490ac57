// The CPU backend's tensor-parallel collectives: results equal to the rank-order reference, the
// same bits on every rank, for sizes that do not divide by the group, and many calls in a row.
#include <gtest/gtest.h>

#include <bit>
#include <cstdint>
#include <functional>
#include <random>
#include <thread>
#include <vector>

#include "dist/rank_order_sum.h"
#include "dist/thread_communicator.h"
#include "tensor/dtype.h"

namespace kiln::dist {
namespace {

// Runs body(rank, communicator) on one thread per rank.
void run_ranks(ThreadGroup& group, const std::function<void(int, Communicator*)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < group.world_size(); ++r) threads.emplace_back([&, r] { body(r, group.communicator(r)); });
  for (std::thread& t : threads) t.join();
}

std::vector<float> random_values(size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  std::vector<float> values(count);
  for (float& v : values) v = normal(rng);
  return values;
}

class ThreadCommunicatorTest : public ::testing::TestWithParam<int> {};

TEST_P(ThreadCommunicatorTest, AllReduceIsTheRankOrderSumOnEveryRank) {
  const int n = GetParam();
  ThreadGroup group(n);
  for (size_t count : {size_t{0}, size_t{1}, size_t{3}, size_t{7}, size_t{1000}, size_t{4097}}) {
    std::vector<std::vector<float>> data(static_cast<size_t>(n));
    std::vector<const float*> inputs;
    for (int r = 0; r < n; ++r) data[static_cast<size_t>(r)] = random_values(count, 100 + static_cast<uint32_t>(r));
    const std::vector<std::vector<float>> original = data;
    for (const auto& d : original) inputs.push_back(d.data());
    std::vector<float> expected(count);
    rank_order_sum(inputs.data(), n, 0, count, expected.data());
    run_ranks(group, [&](int r, Communicator* comm) {
      EXPECT_EQ(comm->rank(), r);
      EXPECT_EQ(comm->world_size(), n);
      comm->all_reduce_sum(data[static_cast<size_t>(r)].data(), count);
    });
    for (int r = 0; r < n; ++r) {
      for (size_t i = 0; i < count; ++i) {
        // Bitwise: every rank must hold the very same residual stream.
        ASSERT_EQ(std::bit_cast<uint32_t>(data[static_cast<size_t>(r)][i]), std::bit_cast<uint32_t>(expected[i]))
            << "rank " << r << " element " << i << " of " << count;
      }
    }
  }
}

TEST_P(ThreadCommunicatorTest, RankOrderIsLeftToRight) {
  const int n = GetParam();
  if (n < 3) GTEST_SKIP() << "needs three ranks to tell the orders apart";
  // 1e8 + 1 - 1e8 is 0 in f32 left to right; any other grouping gives 1 or 0 differently.
  ThreadGroup group(n);
  std::vector<std::vector<float>> data(static_cast<size_t>(n), std::vector<float>(5, 0.0f));
  for (float& v : data[0]) v = 1e8f;
  for (float& v : data[1]) v = 1.0f;
  for (float& v : data[2]) v = -1e8f;
  run_ranks(group, [&](int r, Communicator* comm) { comm->all_reduce_sum(data[static_cast<size_t>(r)].data(), 5); });
  for (const auto& d : data) {
    for (float v : d) EXPECT_EQ(v, (1e8f + 1.0f) - 1e8f);
  }
}

TEST_P(ThreadCommunicatorTest, AllGatherConcatenatesInRankOrder) {
  const int n = GetParam();
  ThreadGroup group(n);
  const size_t count = 13;
  std::vector<std::vector<float>> recv(static_cast<size_t>(n), std::vector<float>(count * static_cast<size_t>(n)));
  run_ranks(group, [&](int r, Communicator* comm) {
    std::vector<float> send(count);
    for (size_t i = 0; i < count; ++i) send[i] = static_cast<float>(r * 1000 + static_cast<int>(i));
    comm->all_gather(send.data(), count, recv[static_cast<size_t>(r)].data());
  });
  for (int r = 0; r < n; ++r) {
    for (int from = 0; from < n; ++from) {
      for (size_t i = 0; i < count; ++i) {
        ASSERT_EQ(recv[static_cast<size_t>(r)][static_cast<size_t>(from) * count + i], static_cast<float>(from * 1000 + static_cast<int>(i)));
      }
    }
  }
}

TEST_P(ThreadCommunicatorTest, BroadcastCopiesTheRootsBytes) {
  const int n = GetParam();
  ThreadGroup group(n);
  for (int root = 0; root < n; ++root) {
    std::vector<std::vector<int32_t>> data(static_cast<size_t>(n), std::vector<int32_t>(9));
    run_ranks(group, [&](int r, Communicator* comm) {
      for (size_t i = 0; i < 9; ++i) data[static_cast<size_t>(r)][i] = r * 100 + static_cast<int32_t>(i);
      comm->broadcast(data[static_cast<size_t>(r)].data(), 9 * sizeof(int32_t), root);
    });
    for (int r = 0; r < n; ++r) {
      for (size_t i = 0; i < 9; ++i) ASSERT_EQ(data[static_cast<size_t>(r)][i], root * 100 + static_cast<int32_t>(i));
    }
  }
}

TEST_P(ThreadCommunicatorTest, ManyMixedCollectivesInARow) {
  // A forward pass calls collectives back to back with varying sizes; a rank that ran ahead into
  // the next call must never disturb a slower rank's current one.
  const int n = GetParam();
  ThreadGroup group(n);
  constexpr int kCalls = 300;
  std::vector<int> failures(static_cast<size_t>(n), 0);
  run_ranks(group, [&](int r, Communicator* comm) {
    for (int call = 0; call < kCalls; ++call) {
      const size_t count = static_cast<size_t>(1 + (call * 37) % 300);
      std::vector<float> values(count, static_cast<float>(r + 1));
      comm->all_reduce_sum(values.data(), count);
      const float expected = static_cast<float>(n * (n + 1) / 2);
      for (float v : values) failures[static_cast<size_t>(r)] += v != expected;
      std::vector<float> gathered(count * static_cast<size_t>(n));
      comm->all_gather(values.data(), count, gathered.data());
      for (float v : gathered) failures[static_cast<size_t>(r)] += v != expected;
    }
  });
  for (int r = 0; r < n; ++r) EXPECT_EQ(failures[static_cast<size_t>(r)], 0) << "rank " << r;
}

INSTANTIATE_TEST_SUITE_P(WorldSizes, ThreadCommunicatorTest, ::testing::Values(1, 2, 3, 4, 8),
                         [](const auto& info) { return "ranks" + std::to_string(info.param); });

TEST(RankOrderSumTest, Bf16SumsInF32AndRoundsOnce) {
  // Three bf16 values whose pairwise bf16 rounding would lose the small one: 256 + 1 + 1 is 258
  // in f32, but 256 + 1 rounds to 256 in bf16 (8 bits of mantissa), so a bf16 running sum gives 256.
  const uint16_t a[] = {f32_to_bf16(256.0f)}, b[] = {f32_to_bf16(1.0f)}, c[] = {f32_to_bf16(1.0f)};
  const uint16_t* inputs[] = {a, b, c};
  uint16_t out[1];
  rank_order_sum_bf16(inputs, 3, 0, 1, out);
  EXPECT_EQ(bf16_to_f32(out[0]), 258.0f);
}

}  // namespace
}  // namespace kiln::dist
