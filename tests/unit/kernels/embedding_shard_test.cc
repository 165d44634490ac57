// The vocab-parallel embedding of tensor parallelism: each rank's rows or zeros, so that the sum
// over the ranks' outputs is the whole table's embedding, bit for bit.
#include <gtest/gtest.h>

#include <algorithm>

#include "kernel_test_util.h"
#include "kernels/ops.h"

namespace kiln::cpu {
namespace {

using testing::make_weight;

TEST(EmbeddingShardTest, RanksSumToTheWholeEmbedding) {
  ThreadPool pool(2);
  const int vocab = 50, hidden = 16, ranks = 4, per_rank = 13;  // 13, 13, 13, 11 rows
  const std::vector<int32_t> ids = {3, 49, 0, 13, 12, 26, 39, 38};
  for (DType dtype : {DType::kF32, DType::kBF16, DType::kF16}) {
    const auto table = make_weight({vocab, hidden}, dtype, 9);
    std::vector<float> whole(ids.size() * hidden), sum(ids.size() * hidden, 0.0f);
    embedding(CpuContext{&pool, Isa::kScalar}, table.view, ids.data(), static_cast<int>(ids.size()), whole.data());
    for (int r = 0; r < ranks; ++r) {
      const int begin = r * per_rank, rows = std::min(per_rank, vocab - begin);
      TensorView shard = table.view;
      shard.data = static_cast<const uint8_t*>(table.view.data) + static_cast<size_t>(begin) * hidden * dtype_size_bytes(dtype);
      shard.shape = {rows, hidden};
      std::vector<float> out(ids.size() * hidden, -1.0f);
      embedding_shard(CpuContext{&pool, Isa::kScalar}, shard, begin, ids.data(), static_cast<int>(ids.size()),
                      out.data());
      for (size_t t = 0; t < ids.size(); ++t) {
        const bool mine = ids[t] >= begin && ids[t] < begin + rows;
        for (int i = 0; i < hidden; ++i) {
          const float v = out[t * hidden + static_cast<size_t>(i)];
          if (!mine) {
            ASSERT_EQ(v, 0.0f) << "rank " << r << " token " << ids[t];
          }
          sum[t * hidden + static_cast<size_t>(i)] += v;
        }
      }
    }
    EXPECT_EQ(sum, whole);
  }
}

}  // namespace
}  // namespace kiln::cpu
