// The custom all-reduce against its CPU twin, bit for bit: rank_order_sum_bf16 over the ranks'
// inputs. The ranks are simulated on one GPU (each with its own staging buffer, flags and stream,
// their kernels running side by side), which exercises the same kernels, flags and counters as
// ranks on separate GPUs: one-shot and two-shot, counts that fill no whole 16-byte pack or share,
// many calls in a row (the flags' counters), in place, and replayed from CUDA graphs.
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "cuda_test_util.h"
#include "dist/cuda/custom_all_reduce.h"
#include "dist/rank_order_sum.h"

namespace kiln::dist {
namespace {

using cuda::DeviceBuffer;
using cuda::testing::random_bf16;
using cuda::testing::upload;

struct SimulatedGroup {
  std::vector<std::unique_ptr<CustomAllReduce>> ranks;
  std::vector<cudaStream_t> streams;

  explicit SimulatedGroup(int size) {
    std::vector<AllReducePeer> peers;
    for (int r = 0; r < size; ++r) {
      auto reduce = CustomAllReduce::create(r, size, size_t{4} << 20);
      EXPECT_TRUE(reduce.ok()) << reduce.message();
      peers.push_back((*reduce)->self());
      ranks.push_back(std::move(reduce).value());
      cudaStream_t stream = nullptr;
      KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
      streams.push_back(stream);
    }
    for (auto& rank : ranks) rank->connect(peers);
  }
  ~SimulatedGroup() {
    for (cudaStream_t s : streams) cudaStreamDestroy(s);
  }
};

std::vector<uint16_t> expected_sum(const std::vector<std::vector<uint16_t>>& inputs) {
  std::vector<const uint16_t*> pointers;
  for (const auto& input : inputs) pointers.push_back(input.data());
  std::vector<uint16_t> out(inputs.front().size());
  rank_order_sum_bf16(pointers.data(), static_cast<int>(pointers.size()), 0, out.size(), out.data());
  return out;
}

std::vector<uint16_t> download(const DeviceBuffer& buffer, size_t count) {
  std::vector<uint16_t> host(count);
  KILN_CUDA_CHECK(cudaMemcpy(host.data(), buffer.data(), count * 2, cudaMemcpyDeviceToHost));
  return host;
}

void expect_bits(const std::vector<uint16_t>& got, const std::vector<uint16_t>& expected, const std::string& where) {
  ASSERT_EQ(got.size(), expected.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i], expected[i]) << where << " element " << i << ": " << bf16_to_f32(got[i]) << " vs "
                                   << bf16_to_f32(expected[i]);
  }
}

class CustomAllReduceParityTest : public ::testing::TestWithParam<std::tuple<int, AllReduceAlgorithm>> {};

TEST_P(CustomAllReduceParityTest, MatchesTheRankOrderSumBitForBit) {
  KILN_SKIP_WITHOUT_GPU();
  const auto [size, algorithm] = GetParam();
  SimulatedGroup group(size);
  std::mt19937 rng(5);
  // Several calls in a row: each advances every block's flag counter.
  for (size_t count : {size_t{1}, size_t{7}, size_t{8}, size_t{1000}, size_t{4096}, size_t{4096 * 16 + 3},
                       size_t{1} << 20}) {
    std::vector<std::vector<uint16_t>> inputs;
    std::vector<DeviceBuffer> in, out;
    for (int r = 0; r < size; ++r) {
      inputs.push_back(random_bf16(count, rng, 4.0f));
      in.push_back(upload(inputs.back()));
      out.push_back(cuda::testing::poisoned_bf16(count + 8));  // an overrun shows as a changed NaN
    }
    for (int r = 0; r < size; ++r) {
      group.ranks[static_cast<size_t>(r)]->all_reduce(in[static_cast<size_t>(r)].as<__nv_bfloat16>(),
                                                      out[static_cast<size_t>(r)].as<__nv_bfloat16>(), count,
                                                      group.streams[static_cast<size_t>(r)], algorithm);
    }
    for (cudaStream_t s : group.streams) KILN_CUDA_CHECK(cudaStreamSynchronize(s));
    const std::vector<uint16_t> expected = expected_sum(inputs);
    for (int r = 0; r < size; ++r) {
      const std::vector<uint16_t> got = download(out[static_cast<size_t>(r)], count + 8);
      expect_bits(std::vector<uint16_t>(got.begin(), got.begin() + static_cast<std::ptrdiff_t>(count)), expected,
                  "rank " + std::to_string(r) + " count " + std::to_string(count));
      for (size_t i = count; i < count + 8; ++i) ASSERT_EQ(got[i], 0x7fc1) << "wrote past the count at " << i;
    }
  }
}

TEST_P(CustomAllReduceParityTest, InPlaceAndFromGraphs) {
  KILN_SKIP_WITHOUT_GPU();
  const auto [size, algorithm] = GetParam();
  SimulatedGroup group(size);
  const size_t count = 4096 * 3;
  std::vector<DeviceBuffer> data;
  for (int r = 0; r < size; ++r) data.push_back(cuda::testing::poisoned_bf16(count));
  // Each rank's step is captured into its own graph, as the decode graphs capture them.
  std::vector<cudaGraphExec_t> graphs;
  for (int r = 0; r < size; ++r) {
    cudaStream_t s = group.streams[static_cast<size_t>(r)];
    cudaGraph_t graph = nullptr;
    KILN_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeRelaxed));
    auto* buffer = data[static_cast<size_t>(r)].as<__nv_bfloat16>();
    group.ranks[static_cast<size_t>(r)]->all_reduce(buffer, buffer, count, s, algorithm);
    KILN_CUDA_CHECK(cudaStreamEndCapture(s, &graph));
    cudaGraphExec_t exec = nullptr;
    KILN_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    KILN_CUDA_CHECK(cudaGraphDestroy(graph));
    graphs.push_back(exec);
  }
  std::mt19937 rng(9);
  for (int replay = 0; replay < 20; ++replay) {
    std::vector<std::vector<uint16_t>> inputs;
    for (int r = 0; r < size; ++r) {
      inputs.push_back(random_bf16(count, rng));
      KILN_CUDA_CHECK(cudaMemcpy(data[static_cast<size_t>(r)].data(), inputs.back().data(), count * 2,
                                 cudaMemcpyHostToDevice));
    }
    for (int r = 0; r < size; ++r) {
      KILN_CUDA_CHECK(cudaGraphLaunch(graphs[static_cast<size_t>(r)], group.streams[static_cast<size_t>(r)]));
    }
    for (cudaStream_t s : group.streams) KILN_CUDA_CHECK(cudaStreamSynchronize(s));
    const std::vector<uint16_t> expected = expected_sum(inputs);
    for (int r = 0; r < size; ++r) {
      expect_bits(download(data[static_cast<size_t>(r)], count), expected,
                  "replay " + std::to_string(replay) + " rank " + std::to_string(r));
    }
  }
  for (cudaGraphExec_t g : graphs) cudaGraphExecDestroy(g);
}

INSTANTIATE_TEST_SUITE_P(
    Ranks, CustomAllReduceParityTest,
    ::testing::Combine(::testing::Values(2, 4, 8), ::testing::Values(AllReduceAlgorithm::kOneShot, AllReduceAlgorithm::kTwoShot)),
    [](const auto& info) {
      return "ranks" + std::to_string(std::get<0>(info.param)) +
             (std::get<1>(info.param) == AllReduceAlgorithm::kOneShot ? "_one_shot" : "_two_shot");
    });

TEST(CustomAllReduceTest, ChoosesOneShotForSmallMessages) {
  EXPECT_EQ(CustomAllReduce::choose(8192, 2), AllReduceAlgorithm::kOneShot);
  EXPECT_EQ(CustomAllReduce::choose(size_t{4} << 20, 2), AllReduceAlgorithm::kOneShot);
  EXPECT_EQ(CustomAllReduce::choose(16384, 4), AllReduceAlgorithm::kOneShot);
  EXPECT_EQ(CustomAllReduce::choose(size_t{1} << 20, 4), AllReduceAlgorithm::kTwoShot);
  EXPECT_EQ(CustomAllReduce::choose(size_t{512} << 10, 8), AllReduceAlgorithm::kTwoShot);
}

}  // namespace
}  // namespace kiln::dist
