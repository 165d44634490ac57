// The collectives across real GPUs, one thread per rank as the CUDA backend runs them: NCCL's
// all-reduce, all-gather and broadcast, and the custom all-reduce over peer access, bit for bit its
// CPU twin. Skipped below 2 GPUs (groups of 4 and 8 need that many); runs on the multi-GPU machine.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "cuda_test_util.h"
#include "dist/cuda/custom_all_reduce.h"
#include "dist/cuda/nccl_communicator.h"
#include "dist/rank_order_sum.h"

namespace kiln::dist {
namespace {

using cuda::DeviceBuffer;

// Runs body(rank) on one thread per rank, each with its GPU current.
void run_ranks(int size, const std::function<void(int)>& body) {
  std::vector<std::thread> threads;
  for (int r = 0; r < size; ++r) {
    threads.emplace_back([&, r] {
      KILN_CUDA_CHECK(cudaSetDevice(r));
      body(r);
    });
  }
  for (std::thread& t : threads) t.join();
}

class MultiGpuTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    if (cuda::device_count() < GetParam()) {
      GTEST_SKIP() << "needs " << GetParam() << " GPUs (" << cuda::device_count() << " visible)";
    }
  }
};

std::vector<std::vector<uint16_t>> random_inputs(int size, size_t count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<uint16_t>> inputs;
  for (int r = 0; r < size; ++r) inputs.push_back(cuda::testing::random_bf16(count, rng, 2.0f));
  return inputs;
}

TEST_P(MultiGpuTest, NcclCollectives) {
  const int size = GetParam();
  auto id = NcclCommunicator::make_unique_id();
  ASSERT_TRUE(id.ok()) << id.message();
  const size_t count = 4096 * 8 + 5;
  const auto inputs = random_inputs(size, count, 3);
  std::vector<std::vector<uint16_t>> reduced(static_cast<size_t>(size)), gathered(static_cast<size_t>(size)),
      broadcast(static_cast<size_t>(size));
  run_ranks(size, [&](int r) {
    auto comm = NcclCommunicator::create(*id, r, size, r);
    ASSERT_TRUE(comm.ok()) << comm.message();
    cudaStream_t stream = nullptr;
    KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    DeviceBuffer data = cuda::testing::upload(inputs[static_cast<size_t>(r)]);
    DeviceBuffer all = std::move(DeviceBuffer::try_allocate(count * 2 * static_cast<size_t>(size)).value());
    (*comm)->all_gather(data.as<__nv_bfloat16>(), count, all.as<__nv_bfloat16>(), stream);
    (*comm)->all_reduce_sum(data.as<__nv_bfloat16>(), count, stream);
    DeviceBuffer bytes = cuda::testing::upload(inputs[static_cast<size_t>(r)]);
    (*comm)->broadcast(bytes.data(), count * 2, size - 1, stream);
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
    auto& out = reduced[static_cast<size_t>(r)];
    out.resize(count);
    KILN_CUDA_CHECK(cudaMemcpy(out.data(), data.data(), count * 2, cudaMemcpyDeviceToHost));
    gathered[static_cast<size_t>(r)].resize(count * static_cast<size_t>(size));
    KILN_CUDA_CHECK(cudaMemcpy(gathered[static_cast<size_t>(r)].data(), all.data(), count * 2 * size, cudaMemcpyDeviceToHost));
    broadcast[static_cast<size_t>(r)].resize(count);
    KILN_CUDA_CHECK(cudaMemcpy(broadcast[static_cast<size_t>(r)].data(), bytes.data(), count * 2, cudaMemcpyDeviceToHost));
    KILN_CUDA_CHECK(cudaStreamDestroy(stream));
  });
  for (int r = 0; r < size; ++r) {
    EXPECT_EQ(broadcast[static_cast<size_t>(r)], inputs[static_cast<size_t>(size - 1)]) << "rank " << r;
    for (int from = 0; from < size; ++from) {
      const auto begin = gathered[static_cast<size_t>(r)].begin() + static_cast<std::ptrdiff_t>(from * count);
      EXPECT_TRUE(std::equal(begin, begin + static_cast<std::ptrdiff_t>(count), inputs[static_cast<size_t>(from)].begin()))
          << "rank " << r << " gathered from " << from;
    }
    // NCCL adds in its own order and rounds to bf16 at each step: close to the f32 sum, the same
    // on every rank.
    EXPECT_EQ(reduced[static_cast<size_t>(r)], reduced[0]) << "rank " << r;
    for (size_t i = 0; i < count; ++i) {
      double exact = 0, magnitude = 0;
      for (int s = 0; s < size; ++s) {
        exact += bf16_to_f32(inputs[static_cast<size_t>(s)][i]);
        magnitude += std::abs(bf16_to_f32(inputs[static_cast<size_t>(s)][i]));
      }
      ASSERT_NEAR(bf16_to_f32(reduced[static_cast<size_t>(r)][i]), exact, magnitude * size * std::ldexp(1.0, -8))
          << "element " << i;
    }
  }
}

TEST_P(MultiGpuTest, CustomAllReduceOverPeerAccessMatchesItsCpuTwin) {
  const int size = GetParam();
  std::vector<int> devices;
  for (int r = 0; r < size; ++r) devices.push_back(r);
  if (!enable_peer_access(devices)) GTEST_SKIP() << "these GPUs have no peer-to-peer path";
  std::vector<std::unique_ptr<CustomAllReduce>> ranks(static_cast<size_t>(size));
  std::vector<AllReducePeer> peers(static_cast<size_t>(size));
  run_ranks(size, [&](int r) {
    auto reduce = CustomAllReduce::create(r, size);
    ASSERT_TRUE(reduce.ok()) << reduce.message();
    peers[static_cast<size_t>(r)] = (*reduce)->self();
    ranks[static_cast<size_t>(r)] = std::move(reduce).value();
  });
  for (auto& rank : ranks) rank->connect(peers);
  for (AllReduceAlgorithm algorithm : {AllReduceAlgorithm::kOneShot, AllReduceAlgorithm::kTwoShot}) {
    for (size_t count : {size_t{4096}, size_t{8192 * 4 + 1}, size_t{1} << 21}) {
      const auto inputs = random_inputs(size, count, static_cast<uint32_t>(count));
      std::vector<const uint16_t*> pointers;
      for (const auto& input : inputs) pointers.push_back(input.data());
      std::vector<uint16_t> expected(count);
      rank_order_sum_bf16(pointers.data(), size, 0, count, expected.data());
      std::vector<std::vector<uint16_t>> got(static_cast<size_t>(size), std::vector<uint16_t>(count));
      run_ranks(size, [&](int r) {
        cudaStream_t stream = nullptr;
        KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
        DeviceBuffer data = cuda::testing::upload(inputs[static_cast<size_t>(r)]);
        for (int repeat = 0; repeat < 3; ++repeat) {  // same inputs: the flags advance, the bits must not change
          KILN_CUDA_CHECK(cudaMemcpyAsync(data.data(), inputs[static_cast<size_t>(r)].data(), count * 2,
                                          cudaMemcpyHostToDevice, stream));
          ranks[static_cast<size_t>(r)]->all_reduce(data.as<__nv_bfloat16>(), data.as<__nv_bfloat16>(), count,
                                                    stream, algorithm);
        }
        KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
        KILN_CUDA_CHECK(cudaMemcpy(got[static_cast<size_t>(r)].data(), data.data(), count * 2, cudaMemcpyDeviceToHost));
        KILN_CUDA_CHECK(cudaStreamDestroy(stream));
      });
      for (int r = 0; r < size; ++r) ASSERT_EQ(got[static_cast<size_t>(r)], expected) << "rank " << r << " count " << count;
    }
  }
  run_ranks(size, [&](int r) { ranks[static_cast<size_t>(r)].reset(); });
}

INSTANTIATE_TEST_SUITE_P(Gpus, MultiGpuTest, ::testing::Values(2, 4, 8),
                         [](const auto& info) { return "ranks" + std::to_string(info.param); });

}  // namespace
}  // namespace kiln::dist
