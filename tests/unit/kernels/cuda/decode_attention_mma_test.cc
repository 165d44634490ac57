// The tensor-core decode attention (decode_attention_mma.h) against the CPU twin
// cpu::paged_attention and against decode_attention's CUDA-core kernel on the same inputs: bf16
// and FP8 caches, decode steps on the shapes of AttentionParity / Fp8AttentionParity (GQA groups
// 1, 2, 4, 8, head_dim 64/128, blocks scattered over the pool, sequence ends inside and at the
// edges of the 64-key tiles), several split counts, mixed steps (decode_only), a strided query
// buffer, and the switch that routes decode_attention to it.
//
// Tolerance: relative L2 error 1e-2, the bound the other attention kernels' parity tests use.
// What the mma kernel adds to their error (bf16 output rounding, RMS ~2^-9/sqrt(3) = 1.1e-3) is
// the probabilities' rounding for P.V: each weight moves by at most u relative (u = 2^-8 bf16,
// 2^-11 f16) and the row sum adds the rounded weights, so an output moves by at most
// 2u/(1-u) * sum_i w_i |v_i|; with independent roundings its RMS relative error is about
// u/sqrt(3): 2.3e-3 for a bf16 cache, 2.8e-4 for FP8 (f16). Together ~2.6e-3 (bf16), and the
// distance between the two kernels ~3e-3, both well inside 1e-2; a wrong fragment layout,
// swizzle or mask gives errors of order 1 (or NaN, from the poisoned outputs).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <tuple>

#include "cuda_test_util.h"
#include "paged_batch.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/decode_attention_mma.h"
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

constexpr double kTolerance = 1e-2;  // see the file comment

// Random finite E4M3 codes (never NaN), both signs, over the whole range.
std::vector<uint8_t> random_codes(size_t count, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> codes(count);
  for (uint8_t& c : codes) {
    do c = static_cast<uint8_t>(byte(rng));
    while ((c & 0x7f) == 0x7f);
  }
  return codes;
}

// Split settings (DecodeAttentionTuning: stages, waves, blocks per SM, min keys, short-context
// min keys, max splits): production's, no split, a few, and as many as the combine takes.
const DecodeAttentionTuning kTunings[] = {DecodeAttentionTuning{}, DecodeAttentionTuning{3, 0, 0, 256, 128, 128},
                                          DecodeAttentionTuning{3, 0, 2, 128, 128, 64},
                                          DecodeAttentionTuning{3, 0, 64, 32, 32, 256}};

std::string describe(const DecodeAttentionTuning& tuning) {
  return std::to_string(tuning.target_waves) + " waves or " + std::to_string(tuning.target_blocks_per_sm) +
         " blocks per SM, splits of >= " + std::to_string(tuning.min_keys_per_split) + " keys, at most " +
         std::to_string(tuning.max_splits);
}

// One step's inputs on the host and the device, over a bf16 or an FP8 cache.
struct MmaStep {
  MmaStep(const AttentionCase& c, bool fp8, std::mt19937& rng) : batch(c, rng), device_batch(batch), fp8(fp8) {
    const AttentionShape& shape = c.shape;
    const size_t cache_size = batch.cache_elements(shape);
    q = random_bf16(batch.query_elements(shape), rng, 2.0f);
    q_dev = upload(q);
    if (fp8) {
      k_codes = random_codes(cache_size, rng), v_codes = random_codes(cache_size, rng);
      k_dev = upload_raw(k_codes), v_dev = upload_raw(v_codes);
      scales_dev = upload_raw(std::vector<float>{kKeyScale, kValueScale});
    } else {
      k_bf16 = random_bf16(cache_size, rng, 2.0f), v_bf16 = random_bf16(cache_size, rng);
      k_dev = upload(k_bf16), v_dev = upload(v_bf16);
    }
  }
  Fp8KvCacheLayer device_layer() const {
    return {k_dev.as<uint8_t>(), v_dev.as<uint8_t>(), scales_dev.as<float>(), scales_dev.as<float>() + 1, nullptr};
  }
  // The CPU twin's output.
  std::vector<float> expected(const cpu::CpuContext& cpu, const AttentionShape& shape, float scale) {
    std::vector<float> out(batch.query_elements(shape));
    if (fp8) {
      std::vector<uint8_t> k_host = k_codes, v_host = v_codes;
      float k_scale = kKeyScale, v_scale = kValueScale;
      const Fp8KvCacheLayer layer{k_host.data(), v_host.data(), &k_scale, &v_scale, nullptr};
      cpu::paged_attention(cpu, widen(q).data(), layer, batch.metadata, shape, scale, out.data());
    } else {
      cpu::paged_attention(cpu, widen(q).data(), widen(k_bf16).data(), widen(v_bf16).data(), batch.metadata, shape,
                           scale, out.data());
    }
    return out;
  }

  static constexpr float kKeyScale = 1.0f / 128, kValueScale = 1.0f / 300;  // keys up to 3.5, values 1.5
  PagedBatch batch;
  DevicePagedBatch device_batch;
  bool fp8;
  std::vector<uint16_t> q, k_bf16, v_bf16;
  std::vector<uint8_t> k_codes, v_codes;
  DeviceBuffer q_dev, k_dev, v_dev, scales_dev;
};

class DecodeAttentionMmaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    KILN_SKIP_WITHOUT_GPU();
    auto context = CudaContext::create(0);
    ASSERT_TRUE(context.ok()) << context.message();
    context_ = std::move(context).value();
    workspace_ = std::move(DeviceBuffer::try_allocate(
                               paged_attention_workspace_bytes(context_->info().num_sms, AttentionShape{32, 8, 128}))
                               .value());
  }
  void TearDown() override { use_decode_attention_mma(false); }
  cudaStream_t stream() { return context_->stream(); }
  int num_sms() { return context_->info().num_sms; }
  cpu::CpuContext cpu() { return cpu::CpuContext{&pool_, cpu::detect_isa()}; }

  // decode_attention_mma (mma) or decode_attention's CUDA-core kernel over the step's cache.
  std::vector<float> run(MmaStep& step, const AttentionShape& shape, float scale, bool mma,
                         const DecodeAttentionTuning& tuning, bool decode_only = false) {
    const size_t size = step.batch.query_elements(shape);
    DeviceBuffer out = poisoned_bf16(size);
    const PagedAttentionMetadata& meta = step.device_batch.metadata;
    const bf16* q = step.q_dev.as<bf16>();
    if (step.fp8) {
      if (mma) {
        decode_attention_mma(q, step.device_layer(), meta, shape, scale, out.as<bf16>(), workspace_.data(), num_sms(),
                             stream(), 0, decode_only, tuning);
      } else {
        decode_attention(q, step.device_layer(), meta, shape, scale, out.as<bf16>(), workspace_.data(), num_sms(),
                         stream(), 0, decode_only, tuning);
      }
    } else {
      const bf16 *k = step.k_dev.as<bf16>(), *v = step.v_dev.as<bf16>();
      if (mma) {
        decode_attention_mma(q, k, v, meta, shape, scale, out.as<bf16>(), workspace_.data(), num_sms(), stream(), 0,
                             decode_only, tuning);
      } else {
        decode_attention_tuned(q, k, v, meta, shape, scale, out.as<bf16>(), workspace_.data(), num_sms(), stream(), 0,
                               decode_only, tuning);
      }
    }
    context_->synchronize();
    return download_bf16(out, size);
  }

  std::unique_ptr<CudaContext> context_;
  DeviceBuffer workspace_;
  cpu::ThreadPool pool_{2};
  std::mt19937 rng_{11};
};

class DecodeAttentionMmaParity : public DecodeAttentionMmaTest,
                                 public ::testing::WithParamInterface<std::tuple<AttentionCase, bool>> {};

TEST_P(DecodeAttentionMmaParity, MatchesCpuTwinAndCudaCoreKernel) {
  const auto& [c, fp8] = GetParam();
  const AttentionShape& shape = c.shape;
  ASSERT_TRUE(decode_attention_mma_supports(shape));
  MmaStep step(c, fp8, rng_);
  ASSERT_TRUE(step.batch.decode_only());
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  const std::vector<float> expected = step.expected(cpu(), shape, scale);
  for (const DecodeAttentionTuning& tuning : kTunings) {
    const std::vector<float> mma = run(step, shape, scale, /*mma=*/true, tuning);
    EXPECT_LT(relative_error(mma, expected), kTolerance) << c.name << ", " << describe(tuning);
    const std::vector<float> cuda_cores = run(step, shape, scale, /*mma=*/false, tuning);
    EXPECT_LT(relative_error(mma, cuda_cores), kTolerance) << c.name << " against the CUDA-core kernel, "
                                                           << describe(tuning);
  }
}

const AttentionCase kDecodeCases[] = {
    AttentionCase{"gqa4_batch", {32, 8, 128}, {1, 1, 1, 1}, {1, 17, 300, 129}},
    AttentionCase{"gqa4_long_splits", {32, 8, 128}, {1}, {5000}},
    AttentionCase{"gqa4_tile_edges", {32, 8, 128}, {1, 1, 1, 1, 1, 1, 1, 1}, {15, 16, 63, 64, 65, 127, 192, 257}},
    AttentionCase{"gqa4_hd64", {16, 4, 64}, {1, 1, 1}, {64, 700, 3}},
    AttentionCase{"group2_hd64", {8, 4, 64}, {1, 1, 1}, {33, 1000, 2}},
    AttentionCase{"mha_long", {16, 16, 128}, {1, 1}, {250, 4097}},
    AttentionCase{"mha_hd64", {8, 8, 64}, {1, 1}, {63, 1500}},
    AttentionCase{"group8", {32, 4, 128}, {1, 1, 1}, {3000, 45, 8}},
    AttentionCase{"group8_hd64", {16, 2, 64}, {1, 1}, {900, 77}},
    AttentionCase{"batch40", {32, 8, 128},
                  {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                   1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1},
                  {1, 7, 31, 32, 33, 64, 100, 127, 128, 129, 200, 255, 256, 257, 300, 400, 500, 511,
                   512, 513, 600, 700, 800, 900, 1000, 1023, 1024, 1025, 1100, 1200, 1300, 1400, 1500,
                   1600, 1700, 1800, 1900, 2000, 2047, 2049}},
};

INSTANTIATE_TEST_SUITE_P(Shapes, DecodeAttentionMmaParity,
                         ::testing::Combine(::testing::ValuesIn(kDecodeCases), ::testing::Bool()),
                         [](const ::testing::TestParamInfo<std::tuple<AttentionCase, bool>>& info) {
                           return std::string(std::get<0>(info.param).name) +
                                  (std::get<1>(info.param) ? "_fp8" : "_bf16");
                         });

// Mixed steps: decode_only computes the single-token sequences and leaves the others' rows alone
// (still the poison), as paged_attention's mixed dispatch needs.
TEST_F(DecodeAttentionMmaTest, DecodeAttentionMmaDecodeOnlySkipsPrefillTokens) {
  const AttentionCase c{"mixed", {32, 8, 128}, {37, 1, 20, 1}, {37, 64, 90, 700}};
  const AttentionShape& shape = c.shape;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  for (bool fp8 : {false, true}) {
    SCOPED_TRACE(fp8 ? "fp8" : "bf16");
    MmaStep step(c, fp8, rng_);
    const std::vector<float> expected = step.expected(cpu(), shape, scale);
    const std::vector<float> out = run(step, shape, scale, /*mma=*/true, DecodeAttentionTuning{}, /*decode_only=*/true);
    const size_t row = static_cast<size_t>(shape.num_heads) * shape.head_dim;
    const auto& starts = step.batch.query_start;
    const auto decode_row = [&](size_t i) {
      const int token = static_cast<int>(i / row);
      for (size_t s = 0; s + 1 < starts.size(); ++s) {
        if (token >= starts[s] && token < starts[s + 1]) return starts[s + 1] - starts[s] == 1;
      }
      return false;
    };
    EXPECT_LT(relative_error(out, expected, decode_row), kTolerance);
    for (size_t i = 0; i < out.size(); ++i) {
      if (!decode_row(i)) {
        ASSERT_TRUE(std::isnan(out[i])) << "prefill token's output written at " << i;
      }
    }
  }
}

// The model passes the fused QKV buffer: each token's queries are q_token_stride elements apart.
TEST_F(DecodeAttentionMmaTest, DecodeAttentionMmaFollowsTheQueryStride) {
  const AttentionCase c{"strided", {32, 8, 128}, {1, 1, 1}, {40, 600, 1}};
  const AttentionShape& shape = c.shape;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  for (bool fp8 : {false, true}) {
    SCOPED_TRACE(fp8 ? "fp8" : "bf16");
    MmaStep step(c, fp8, rng_);
    const std::vector<float> expected = step.expected(cpu(), shape, scale);
    const int q_row = shape.num_heads * shape.head_dim;
    const int stride = (shape.num_heads + 2 * shape.num_kv_heads) * shape.head_dim;
    std::vector<uint16_t> qkv = random_bf16(static_cast<size_t>(step.batch.num_tokens()) * stride, rng_);
    for (int t = 0; t < step.batch.num_tokens(); ++t) {
      std::copy_n(step.q.begin() + static_cast<size_t>(t) * q_row, q_row,
                  qkv.begin() + static_cast<size_t>(t) * stride);
    }
    DeviceBuffer qkv_dev = upload(qkv);
    DeviceBuffer out = poisoned_bf16(expected.size());
    const PagedAttentionMetadata& meta = step.device_batch.metadata;
    if (fp8) {
      decode_attention_mma(qkv_dev.as<bf16>(), step.device_layer(), meta, shape, scale, out.as<bf16>(),
                           workspace_.data(), num_sms(), stream(), stride);
    } else {
      decode_attention_mma(qkv_dev.as<bf16>(), step.k_dev.as<bf16>(), step.v_dev.as<bf16>(), meta, shape, scale,
                           out.as<bf16>(), workspace_.data(), num_sms(), stream(), stride);
    }
    context_->synchronize();
    EXPECT_LT(relative_error(download_bf16(out, expected.size()), expected), kTolerance);
  }
}

// KILN_CUDA_DECODE_ATTENTION_MMA's switch: with it on, decode_attention and paged_attention (the
// model's calls) run the mma kernel (the same bits as calling it); off, the CUDA-core kernel.
TEST_F(DecodeAttentionMmaTest, DecodeAttentionMmaSwitchRoutesDecodeAttention) {
  const AttentionCase c{"switch", {32, 8, 128}, {1, 1}, {333, 1200}};
  const AttentionShape& shape = c.shape;
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));
  for (bool fp8 : {false, true}) {
    SCOPED_TRACE(fp8 ? "fp8" : "bf16");
    MmaStep step(c, fp8, rng_);
    const size_t size = step.batch.query_elements(shape);
    const PagedAttentionMetadata& meta = step.device_batch.metadata;
    const auto through_paged_attention = [&] {
      DeviceBuffer out = poisoned_bf16(size);
      if (fp8) {
        paged_attention(step.q_dev.as<bf16>(), step.device_layer(), meta, shape, scale, out.as<bf16>(),
                        workspace_.data(), num_sms(), stream());
      } else {
        paged_attention(step.q_dev.as<bf16>(), step.k_dev.as<bf16>(), step.v_dev.as<bf16>(), meta, shape, scale,
                        out.as<bf16>(), workspace_.data(), num_sms(), stream());
      }
      context_->synchronize();
      return download_bf16(out, size);
    };
    const std::vector<float> mma = run(step, shape, scale, /*mma=*/true, DecodeAttentionTuning{});
    const std::vector<float> cuda_cores = run(step, shape, scale, /*mma=*/false, DecodeAttentionTuning{});
    ASSERT_FALSE(decode_attention_mma_enabled());  // off by default
    EXPECT_EQ(through_paged_attention(), cuda_cores);
    use_decode_attention_mma(true);
    EXPECT_EQ(through_paged_attention(), mma);
    use_decode_attention_mma(false);
    EXPECT_NE(mma, cuda_cores);  // the two kernels round differently: the comparison above can fail
  }
}

}  // namespace
}  // namespace kiln::cuda
