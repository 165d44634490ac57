// The vocab-parallel embedding against its CPU twin: each rank's rows or zeros, bit for bit.
#include <gtest/gtest.h>

#include <random>

#include "cuda_test_util.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/ops.h"

namespace kiln::cuda {
namespace {

TEST(EmbeddingShardParity, RowsOfTheRankElseZeros) {
  KILN_SKIP_WITHOUT_GPU();
  auto context = CudaContext::create(0);
  ASSERT_TRUE(context.ok()) << context.message();
  cpu::ThreadPool pool(2);
  std::mt19937 rng(3);
  const int vocab = 1000, hidden = 256, ranks = 4, per_rank = 250;
  const auto table = testing::random_bf16(static_cast<size_t>(vocab) * hidden, rng);
  const std::vector<int32_t> ids = {5, 999, 0, 250, 249, 500, 751, 123};
  DeviceBuffer ids_dev = testing::upload_raw(ids);
  for (int r = 0; r < ranks; ++r) {
    const std::vector<uint16_t> rows(table.begin() + static_cast<std::ptrdiff_t>(r) * per_rank * hidden,
                                     table.begin() + static_cast<std::ptrdiff_t>(r + 1) * per_rank * hidden);
    DeviceBuffer rows_dev = testing::upload(rows);
    DeviceBuffer out = testing::poisoned_bf16(ids.size() * hidden);
    embedding_shard(rows_dev.as<bf16>(), r * per_rank, per_rank, ids_dev.as<int32_t>(), static_cast<int>(ids.size()),
                    hidden, out.as<bf16>(), context.value()->stream());
    context.value()->synchronize();
    std::vector<float> expected(ids.size() * hidden);
    cpu::embedding_shard(cpu::CpuContext{&pool, cpu::Isa::kScalar},
                         TensorView{rows.data(), DType::kBF16, {per_rank, hidden}}, r * per_rank, ids.data(),
                         static_cast<int>(ids.size()), expected.data());
    EXPECT_EQ(testing::download_bf16(out, expected.size()), expected) << "rank " << r;
  }
}

}  // namespace
}  // namespace kiln::cuda
