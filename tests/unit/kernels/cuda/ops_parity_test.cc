// Parity of the CUDA operators with their CPU twins (kernels/ops.h): the same bf16 inputs go to
// both (widened to f32 for the CPU), outputs compared by relative L2 error within bf16 bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "cuda_test_util.h"
#include "paged_batch.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/ops.h"

namespace kiln::cuda {
namespace {

using testing::AttentionCase;
using testing::DevicePagedBatch;
using testing::download_bf16;
using testing::PagedBatch;
using testing::poisoned_bf16;
using testing::random_bf16;
using testing::relative_error;
using testing::upload;
using testing::upload_raw;
using testing::widen;

TensorView view_bf16(const std::vector<uint16_t>& values, std::vector<int64_t> shape) {
  return TensorView{values.data(), DType::kBF16, std::move(shape)};
}

class OpsParity : public ::testing::Test {
 protected:
  void SetUp() override {
    KILN_SKIP_WITHOUT_GPU();
    auto context = CudaContext::create(0);
    ASSERT_TRUE(context.ok()) << context.message();
    context_ = std::move(context).value();
  }
  cudaStream_t stream() { return context_->stream(); }
  cpu::CpuContext cpu() { return cpu::CpuContext{&pool_, cpu::detect_isa()}; }

  std::unique_ptr<CudaContext> context_;
  cpu::ThreadPool pool_{2};
  std::mt19937 rng_{42};
};

TEST_F(OpsParity, EmbeddingGathersRows) {
  const int vocab = 1000, hidden = 256, num_tokens = 7;
  const auto table = random_bf16(static_cast<size_t>(vocab) * hidden, rng_);
  const std::vector<int32_t> ids = {5, 999, 0, 5, 123, 456, 789};
  DeviceBuffer table_dev = upload(table), ids_dev = upload_raw(ids);
  DeviceBuffer out_dev = poisoned_bf16(static_cast<size_t>(num_tokens) * hidden);
  embedding(table_dev.as<bf16>(), vocab, ids_dev.as<int32_t>(), num_tokens, hidden, out_dev.as<bf16>(), stream());
  context_->synchronize();
  std::vector<float> expected(static_cast<size_t>(num_tokens) * hidden);
  cpu::embedding(cpu(), view_bf16(table, {vocab, hidden}), ids.data(), num_tokens, expected.data());
  EXPECT_EQ(download_bf16(out_dev, expected.size()), expected);  // a copy: exact
}

TEST_F(OpsParity, RmsNormAndResidualAdd) {
  const int rows = 5, hidden = 4096;
  const float eps = 1e-5f;
  const auto x = random_bf16(static_cast<size_t>(rows) * hidden, rng_, 3.0f);
  const auto residual = random_bf16(x.size(), rng_, 3.0f);
  const auto weight = random_bf16(hidden, rng_, 2.0f);
  DeviceBuffer x_dev = upload(x), weight_dev = upload(weight), residual_dev = upload(residual);
  DeviceBuffer out_dev = poisoned_bf16(x.size());

  rms_norm(x_dev.as<bf16>(), weight_dev.as<bf16>(), rows, hidden, eps, out_dev.as<bf16>(), stream());
  context_->synchronize();
  std::vector<float> expected(x.size());
  cpu::rms_norm(cpu(), widen(x).data(), view_bf16(weight, {hidden}), rows, hidden, eps, expected.data());
  EXPECT_LT(relative_error(download_bf16(out_dev, x.size()), expected), 8e-3);

  add_rms_norm(residual_dev.as<bf16>(), x_dev.as<bf16>(), weight_dev.as<bf16>(), rows, hidden, eps,
               out_dev.as<bf16>(), stream());
  context_->synchronize();
  std::vector<float> residual_cpu = widen(residual);
  cpu::add_rms_norm(cpu(), residual_cpu.data(), widen(x).data(), view_bf16(weight, {hidden}), rows,
                    hidden, eps, expected.data());
  EXPECT_LT(relative_error(download_bf16(residual_dev, x.size()), residual_cpu), 8e-3);
  EXPECT_LT(relative_error(download_bf16(out_dev, x.size()), expected), 8e-3);
}

TEST_F(OpsParity, SiluAndMulOverFusedGateUp) {
  const int m = 3, inter = 14336;
  const auto gate_up = random_bf16(static_cast<size_t>(m) * 2 * inter, rng_, 4.0f);
  DeviceBuffer gate_up_dev = upload(gate_up);
  DeviceBuffer out_dev = poisoned_bf16(static_cast<size_t>(m) * inter);
  silu_and_mul(gate_up_dev.as<bf16>(), gate_up_dev.as<bf16>() + inter, m, inter, 2 * inter,
               out_dev.as<bf16>(), stream());
  context_->synchronize();
  const std::vector<float> wide = widen(gate_up);
  std::vector<float> expected(static_cast<size_t>(m) * inter);
  cpu::silu_and_mul(cpu(), wide.data(), wide.data() + inter, m, inter, 2 * inter, expected.data());
  const std::vector<float> vectorized = download_bf16(out_dev, expected.size());
  EXPECT_LT(relative_error(vectorized, expected), 8e-3);

  // An output one element off 16-byte alignment takes the scalar kernel: the same bits.
  DeviceBuffer shifted_dev = poisoned_bf16(static_cast<size_t>(m) * inter + 1);
  silu_and_mul(gate_up_dev.as<bf16>(), gate_up_dev.as<bf16>() + inter, m, inter, 2 * inter,
               shifted_dev.as<bf16>() + 1, stream());
  context_->synchronize();
  const std::vector<float> scalar = download_bf16(shifted_dev, expected.size() + 1);
  EXPECT_EQ(std::vector<float>(scalar.begin() + 1, scalar.end()), vectorized);

  // A width that is not a multiple of 8 takes the scalar kernel too.
  const int odd = 333;
  DeviceBuffer odd_out = poisoned_bf16(static_cast<size_t>(m) * odd);
  silu_and_mul(gate_up_dev.as<bf16>(), gate_up_dev.as<bf16>() + odd, m, odd, 2 * odd, odd_out.as<bf16>(), stream());
  context_->synchronize();
  std::vector<float> odd_expected(static_cast<size_t>(m) * odd);
  cpu::silu_and_mul(cpu(), wide.data(), wide.data() + odd, m, odd, 2 * odd, odd_expected.data());
  EXPECT_LT(relative_error(download_bf16(odd_out, odd_expected.size()), odd_expected), 8e-3);
}

TEST_F(OpsParity, RopeRotatesQueriesAndWritesPagedCache) {
  const AttentionShape shape{32, 8, 128};
  const int num_tokens = 4, max_position = 9000, num_slots = 64;
  const size_t q_size = static_cast<size_t>(num_tokens) * shape.num_heads * shape.head_dim;
  const size_t kv_size = static_cast<size_t>(num_tokens) * shape.num_kv_heads * shape.head_dim;
  const size_t cache_size = static_cast<size_t>(num_slots) * shape.num_kv_heads * shape.head_dim;
  const auto q = random_bf16(q_size, rng_, 2.0f), k = random_bf16(kv_size, rng_, 2.0f),
             v = random_bf16(kv_size, rng_, 2.0f);
  std::vector<float> cos_sin(static_cast<size_t>(max_position) * shape.head_dim);
  const int half = shape.head_dim / 2;
  for (int p = 0; p < max_position; ++p) {
    for (int i = 0; i < half; ++i) {
      const double angle = p * std::pow(500000.0, -2.0 * i / shape.head_dim);
      cos_sin[static_cast<size_t>(p) * shape.head_dim + i] = static_cast<float>(std::cos(angle));
      cos_sin[static_cast<size_t>(p) * shape.head_dim + half + i] = static_cast<float>(std::sin(angle));
    }
  }
  const std::vector<int32_t> positions = {0, 17, 8191, 8999};
  const std::vector<int64_t> slots = {3, 40, -1, 63};
  DeviceBuffer q_dev = upload(q), k_dev = upload(k), v_dev = upload(v);
  DeviceBuffer cos_sin_dev = upload_raw(cos_sin), positions_dev = upload_raw(positions),
               slots_dev = upload_raw(slots);
  const std::vector<uint16_t> cache_fill(cache_size, f32_to_bf16(0.25f));
  DeviceBuffer k_cache_dev = upload(cache_fill), v_cache_dev = upload(cache_fill);
  rope_and_cache_kv(q_dev.as<bf16>(), k_dev.as<bf16>(), v_dev.as<bf16>(), positions_dev.as<int32_t>(),
                    slots_dev.as<int64_t>(), num_tokens, shape, cos_sin_dev.as<float>(), max_position,
                    k_cache_dev.as<bf16>(), v_cache_dev.as<bf16>(), stream());
  context_->synchronize();

  std::vector<float> q_cpu = widen(q), k_cache_cpu(cache_size, 0.25f), v_cache_cpu(cache_size, 0.25f);
  cpu::rope_and_cache_kv(cpu(), q_cpu.data(), widen(k).data(), widen(v).data(), positions.data(),
                         slots.data(), num_tokens, shape, cos_sin.data(), max_position,
                         k_cache_cpu.data(), v_cache_cpu.data());
  EXPECT_LT(relative_error(download_bf16(q_dev, q_size), q_cpu), 8e-3);
  EXPECT_LT(relative_error(download_bf16(k_cache_dev, cache_size), k_cache_cpu), 8e-3);
  EXPECT_EQ(download_bf16(v_cache_dev, cache_size), v_cache_cpu);  // v is copied: exact
}

class AttentionParity : public OpsParity, public ::testing::WithParamInterface<AttentionCase> {};

TEST_P(AttentionParity, MatchesCpuTwin) {
  const AttentionCase& c = GetParam();
  const AttentionShape& shape = c.shape;
  const PagedBatch batch(c, rng_);
  const size_t cache_size = batch.cache_elements(shape), q_size = batch.query_elements(shape);
  const auto k_cache = random_bf16(cache_size, rng_, 2.0f), v_cache = random_bf16(cache_size, rng_);
  const auto q = random_bf16(q_size, rng_, 2.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));

  DeviceBuffer q_dev = upload(q), k_dev = upload(k_cache), v_dev = upload(v_cache);
  const DevicePagedBatch device_batch(batch);
  const PagedAttentionMetadata& device_meta = device_batch.metadata;
  DeviceBuffer out_dev = poisoned_bf16(q_size);
  DeviceBuffer workspace = std::move(DeviceBuffer::try_allocate(
      paged_attention_workspace_bytes(context_->info().num_sms, shape)).value());
  paged_attention(q_dev.as<bf16>(), k_dev.as<bf16>(), v_dev.as<bf16>(), device_meta, shape, scale,
                  out_dev.as<bf16>(), workspace.data(),
                  context_->info().num_sms, stream());
  context_->synchronize();

  std::vector<float> expected(q_size);
  cpu::paged_attention(cpu(), widen(q).data(), widen(k_cache).data(), widen(v_cache).data(),
                       batch.metadata, shape, scale, expected.data());
  EXPECT_LT(relative_error(download_bf16(out_dev, q_size), expected), 1e-2) << c.name;

  // Decode steps: both pipeline depths, no split, and split counts up to the combine's limit.
  // Sequence ends (1, 17, 45 keys...) leave warps with no key in their last tile.
  if (!batch.decode_only() || !decode_attention_supports(shape)) return;
  for (const DecodeAttentionTuning& tuning :
       {DecodeAttentionTuning{4, 1, 0, 256, 128, 128}, DecodeAttentionTuning{3, 0, 2, 128, 128, 64},
        DecodeAttentionTuning{3, 0, 64, 32, 32, 256}, DecodeAttentionTuning{4, 0, 16, 48, 48, 256},
        DecodeAttentionTuning{3, 0, 0, 256, 128, 128}}) {
    DeviceBuffer tuned_out = poisoned_bf16(q_size);
    decode_attention_tuned(q_dev.as<bf16>(), k_dev.as<bf16>(), v_dev.as<bf16>(), device_meta, shape, scale,
                           tuned_out.as<bf16>(), workspace.data(), context_->info().num_sms, stream(), 0, false,
                           tuning);
    context_->synchronize();
    EXPECT_LT(relative_error(download_bf16(tuned_out, q_size), expected), 1e-2)
        << c.name << ": " << tuning.stages << " stages, " << tuning.target_waves << " waves or "
        << tuning.target_blocks_per_sm << " blocks per SM, splits of >= " << tuning.min_keys_per_split << " keys";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionParity,
    ::testing::Values(
        AttentionCase{"decode_gqa4_batch", {32, 8, 128}, {1, 1, 1, 1}, {1, 17, 300, 129}},
        AttentionCase{"decode_long_splits", {32, 8, 128}, {1}, {5000}},
        AttentionCase{"prefill_over_prefix", {32, 8, 128}, {37, 1, 20}, {37, 64, 90}},
        AttentionCase{"mqa_head64", {8, 1, 64}, {5, 1}, {5, 700}},
        AttentionCase{"group12_chunked", {12, 1, 128}, {3, 1}, {40, 33}},
        AttentionCase{"qwen_group6", {12, 2, 128}, {1, 1}, {2048, 3}},
        AttentionCase{"decode_group2_hd64", {8, 4, 64}, {1, 1, 1}, {33, 1000, 2}},
        AttentionCase{"decode_mha_long", {16, 16, 128}, {1, 1}, {250, 4097}},
        AttentionCase{"decode_group8", {32, 4, 128}, {1, 1, 1}, {3000, 45, 8}},
        AttentionCase{"decode_group8_hd64", {16, 2, 64}, {1, 1}, {900, 77}},
        AttentionCase{"decode_batch40", {32, 8, 128},
                      {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                       1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                      {1, 7, 31, 32, 33, 64, 100, 127, 128, 129, 200, 255, 256, 257, 300, 400, 500, 511,
                       512, 513, 600, 700, 800, 900, 1000, 1023, 1024, 1025, 1100, 1200, 1300, 1400, 1500,
                       1600, 1700, 1800, 1900, 2000, 2047, 2049}}),
    [](const ::testing::TestParamInfo<AttentionCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kiln::cuda
