// The KV-move op against its CPU twin: the same bytes moved, for bf16 rows (16-byte words) and FP8
// rows of an odd width (single bytes), with an accepted path whose moves chain (a later move reads
// a slot just past an earlier destination).
#include <gtest/gtest.h>

#include <random>

#include "cuda_test_util.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/ops.h"

namespace kiln::cuda {
namespace {

TEST(MoveKvParity, SameBytesAsTheCpuTwin) {
  KILN_SKIP_WITHOUT_GPU();
  auto context = CudaContext::create(0);
  ASSERT_TRUE(context.ok()) << context.message();
  cpu::ThreadPool pool(1);
  std::mt19937 rng(9);
  const int num_slots = 64;
  // 8 KV heads x 128 dims of bf16 (the 8B's rows), and 3 x 5 FP8 codes.
  for (const int64_t row_bytes : {int64_t{8 * 128 * 2}, int64_t{15}}) {
    std::vector<uint8_t> k(static_cast<size_t>(num_slots * row_bytes)), v(k.size());
    for (auto& b : k) b = static_cast<uint8_t>(rng());
    for (auto& b : v) b = static_cast<uint8_t>(rng());
    // Two sequences' accepted paths, in the engine's order: nodes in slots 20, 23, 24 of a tree
    // rooted at slot 17 go to 18, 19, 20 (the last move overwrites the first's source), and 41,
    // 45 of one rooted at 39 go to 40, 41.
    const std::vector<int64_t> from = {20, 23, 24, 41, 45};
    const std::vector<int64_t> to = {18, 19, 20, 40, 41};
    DeviceBuffer k_dev = testing::upload_raw(k), v_dev = testing::upload_raw(v);
    DeviceBuffer from_dev = testing::upload_raw(from), to_dev = testing::upload_raw(to);
    move_kv(k_dev.data(), v_dev.data(), row_bytes, from_dev.as<int64_t>(), to_dev.as<int64_t>(),
            static_cast<int>(from.size()), context.value()->stream());
    context.value()->synchronize();
    cpu::move_kv(cpu::CpuContext{&pool, cpu::Isa::kScalar}, k.data(), v.data(), row_bytes, from.data(), to.data(),
                 static_cast<int>(from.size()));
    EXPECT_EQ(testing::download_raw<uint8_t>(k_dev, k.size()), k) << row_bytes;
    EXPECT_EQ(testing::download_raw<uint8_t>(v_dev, v.size()), v) << row_bytes;
  }
}

}  // namespace
}  // namespace kiln::cuda
