// The FP8 KV cache's CUDA kernels against their CPU twins (kernels/ops.h): the rotary write
// stores the codes the twin stores (values exactly; keys exactly as HF's bf16 rotation quantizes,
// and mostly the twin's, which rotates in f32), calculates the same scales and reports clipping;
// every attention kernel (decode with its tunings, split-KV, prefill, the mixed dispatch) over an
// FP8 cache matches the twin within bf16 bounds.
#include <gtest/gtest.h>

#include <algorithm>
#include <random>

#include "cuda_test_util.h"
#include "paged_batch.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"

namespace kiln::cuda {
namespace {

using testing::AttentionCase;
using testing::DevicePagedBatch;
using testing::download_bf16;
using testing::download_raw;
using testing::PagedBatch;
using testing::poisoned_bf16;
using testing::random_bf16;
using testing::relative_error;
using testing::upload;
using testing::upload_raw;
using testing::widen;

// Random finite E4M3 codes (never NaN), both signs, spread over the whole range.
std::vector<uint8_t> random_codes(size_t count, std::mt19937& rng) {
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> codes(count);
  for (uint8_t& c : codes) {
    do c = static_cast<uint8_t>(byte(rng));
    while ((c & 0x7f) == 0x7f);
  }
  return codes;
}

float round_bf16(float value) { return bf16_to_f32(f32_to_bf16(value)); }

// The key code the GPU must write: HF's rotation with every product and the sum rounded to bf16
// (rope_and_cache_kv.cu), divided by the scale and rounded to E4M3. Where a and b nearly cancel,
// the bf16 roundings move the key by several codes from the twin's f32 rotation.
uint8_t hf_bf16_key_code(float a, float b, float cos_value, float sin_value, bool first, float scale) {
  cos_value = round_bf16(cos_value);
  sin_value = round_bf16(sin_value);
  const float key = first ? round_bf16(round_bf16(a * cos_value) + round_bf16(-b * sin_value))
                          : round_bf16(round_bf16(b * cos_value) + round_bf16(a * sin_value));
  return f32_to_fp8_e4m3(key / scale);
}

// A layer's cache on the device: codes, the two scales and the clip flag.
struct DeviceFp8Layer {
  DeviceFp8Layer(const std::vector<uint8_t>& k, const std::vector<uint8_t>& v, float k_scale, float v_scale)
      : k_codes(upload_raw(k)), v_codes(upload_raw(v)), scales(upload_raw(std::vector<float>{k_scale, v_scale})),
        saturated(upload_raw(std::vector<int32_t>{0})) {}
  Fp8KvCacheLayer layer() {
    return {k_codes.as<uint8_t>(), v_codes.as<uint8_t>(), scales.as<float>(), scales.as<float>() + 1,
            saturated.as<int32_t>()};
  }
  DeviceBuffer k_codes, v_codes, scales, saturated;
};

class Fp8KvCacheParity : public ::testing::Test {
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
  std::mt19937 rng_{7};
};

TEST_F(Fp8KvCacheParity, RopeWritesTheTwinsCodesAndScales) {
  const AttentionShape shape{32, 8, 128};
  const int num_tokens = 5, max_position = 9000, num_slots = 64;
  const size_t q_size = static_cast<size_t>(num_tokens) * shape.num_heads * shape.head_dim;
  const size_t kv_size = static_cast<size_t>(num_tokens) * shape.num_kv_heads * shape.head_dim;
  const size_t cache_size = static_cast<size_t>(num_slots) * shape.num_kv_heads * shape.head_dim;
  const auto q = random_bf16(q_size, rng_, 2.0f), k = random_bf16(kv_size, rng_, 6.0f),
             v = random_bf16(kv_size, rng_, 3.0f);
  std::vector<float> cos_sin(static_cast<size_t>(max_position) * shape.head_dim);
  const int half = shape.head_dim / 2;
  for (int p = 0; p < max_position; ++p) {
    for (int i = 0; i < half; ++i) {
      const double angle = p * std::pow(500000.0, -2.0 * i / shape.head_dim);
      cos_sin[static_cast<size_t>(p) * shape.head_dim + i] = static_cast<float>(std::cos(angle));
      cos_sin[static_cast<size_t>(p) * shape.head_dim + half + i] = static_cast<float>(std::sin(angle));
    }
  }
  const std::vector<int32_t> positions = {0, 17, 8191, 8999, 3};
  const std::vector<int64_t> slots = {3, 40, -1, 63, 12};
  DeviceBuffer cos_sin_dev = upload_raw(cos_sin), positions_dev = upload_raw(positions), slots_dev = upload_raw(slots);
  const std::vector<uint8_t> fill(cache_size, 0x11);

  for (bool calculate : {false, true}) {
    SCOPED_TRACE(calculate ? "calculated scales" : "given scales");
    DeviceBuffer q_dev = upload(q), k_dev = upload(k), v_dev = upload(v);
    DeviceFp8Layer device(fill, fill, 0.03f, 0.005f);
    rope_and_cache_kv(q_dev.as<bf16>(), k_dev.as<bf16>(), v_dev.as<bf16>(), positions_dev.as<int32_t>(),
                      slots_dev.as<int64_t>(), num_tokens, shape, cos_sin_dev.as<float>(), max_position,
                      device.layer(), calculate, stream());
    context_->synchronize();

    std::vector<float> q_cpu = widen(q);
    std::vector<uint8_t> k_cpu = fill, v_cpu = fill;
    float scales_cpu[2] = {0.03f, 0.005f};
    int32_t saturated_cpu = 0;
    cpu::rope_and_cache_kv(cpu(), q_cpu.data(), widen(k).data(), widen(v).data(), positions.data(), slots.data(),
                           num_tokens, shape, cos_sin.data(), max_position,
                           Fp8KvCacheLayer{k_cpu.data(), v_cpu.data(), &scales_cpu[0], &scales_cpu[1], &saturated_cpu},
                           calculate);
    const auto scales = download_raw<float>(device.scales, 2);
    if (calculate) {
      // The GPU's largest key is the bf16-rounded rotation's, the twin's the f32 one.
      EXPECT_NEAR(scales[0], scales_cpu[0], scales_cpu[0] * 8e-3);
      EXPECT_EQ(scales[1], scales_cpu[1]);  // values are not rotated: the same maximum
    } else {
      EXPECT_EQ(scales[0], 0.03f);
      EXPECT_EQ(scales[1], 0.005f);
    }
    EXPECT_EQ(download_raw<int32_t>(device.saturated, 1)[0], saturated_cpu);
    EXPECT_EQ(saturated_cpu, calculate ? 0 : 1);  // |v| up to 3 over 0.005 clips; calculated scales leave room
    EXPECT_LT(relative_error(download_bf16(q_dev, q_size), q_cpu), 8e-3);
    const auto k_codes = download_raw<uint8_t>(device.k_codes, cache_size);
    const auto v_codes = download_raw<uint8_t>(device.v_codes, cache_size);
    std::vector<uint8_t> k_expected = fill;
    const float k_scale = scales[0];
    for (int t = 0; t < num_tokens; ++t) {
      if (slots[t] < 0) continue;
      const float* row = cos_sin.data() + static_cast<size_t>(positions[t]) * shape.head_dim;
      for (int h = 0; h < shape.num_kv_heads; ++h) {
        const size_t in = (static_cast<size_t>(t) * shape.num_kv_heads + h) * shape.head_dim;
        const size_t out = (static_cast<size_t>(slots[t]) * shape.num_kv_heads + h) * shape.head_dim;
        for (int i = 0; i < half; ++i) {
          const float a = bf16_to_f32(k[in + i]), b = bf16_to_f32(k[in + i + half]);
          k_expected[out + i] = hf_bf16_key_code(a, b, row[i], row[half + i], true, k_scale);
          k_expected[out + i + half] = hf_bf16_key_code(a, b, row[i], row[half + i], false, k_scale);
        }
      }
    }
    int keys_unlike_twin = 0;
    for (size_t i = 0; i < cache_size; ++i) {
      ASSERT_EQ(v_codes[i], v_cpu[i]) << i;
      ASSERT_EQ(k_codes[i], k_expected[i]) << i;
      keys_unlike_twin += k_codes[i] != k_cpu[i];
    }
    // The twin rotates in f32: most keys round to the same code, a few land a code or more away.
    EXPECT_LT(keys_unlike_twin, static_cast<int>(cache_size) / 8);
  }
}

class Fp8AttentionParity : public Fp8KvCacheParity, public ::testing::WithParamInterface<AttentionCase> {};

TEST_P(Fp8AttentionParity, MatchesCpuTwin) {
  const AttentionCase& c = GetParam();
  const AttentionShape& shape = c.shape;
  const PagedBatch batch(c, rng_);
  const size_t cache_size = batch.cache_elements(shape), q_size = batch.query_elements(shape);
  const auto k_codes = random_codes(cache_size, rng_), v_codes = random_codes(cache_size, rng_);
  const float k_scale = 1.0f / 128, v_scale = 1.0f / 300;  // keys up to 3.5, values up to 1.5
  const auto q = random_bf16(q_size, rng_, 2.0f);
  const float scale = 1.0f / std::sqrt(static_cast<float>(shape.head_dim));

  DeviceFp8Layer device(k_codes, v_codes, k_scale, v_scale);
  DeviceBuffer q_dev = upload(q);
  const DevicePagedBatch device_batch(batch);
  const PagedAttentionMetadata& device_meta = device_batch.metadata;
  DeviceBuffer workspace =
      std::move(DeviceBuffer::try_allocate(paged_attention_workspace_bytes(context_->info().num_sms, shape)).value());
  std::vector<float> expected(q_size);
  std::vector<uint8_t> k_host = k_codes, v_host = v_codes;
  float k_scale_host = k_scale, v_scale_host = v_scale;
  cpu::paged_attention(cpu(), widen(q).data(),
                       Fp8KvCacheLayer{k_host.data(), v_host.data(), &k_scale_host, &v_scale_host, nullptr},
                       batch.metadata, shape, scale, expected.data());

  DeviceBuffer out_dev = poisoned_bf16(q_size);
  paged_attention(q_dev.as<bf16>(), device.layer(), device_meta, shape, scale, out_dev.as<bf16>(), workspace.data(),
                  context_->info().num_sms, stream());
  context_->synchronize();
  EXPECT_LT(relative_error(download_bf16(out_dev, q_size), expected), 1e-2) << c.name;

  // The split-KV kernel on its own (mixed steps and the group sizes decode_attention lacks).
  if (batch.decode_only()) {
    DeviceBuffer split_out = poisoned_bf16(q_size);
    split_kv_attention(q_dev.as<bf16>(), device.layer(), device_meta, shape, scale, split_out.as<bf16>(),
                       workspace.data(), context_->info().num_sms, stream(), 0, /*decode_only=*/false);
    context_->synchronize();
    EXPECT_LT(relative_error(download_bf16(split_out, q_size), expected), 1e-2) << c.name << " (split-KV)";
  }
  if (!batch.decode_only() || !decode_attention_supports(shape)) return;
  for (const DecodeAttentionTuning& tuning :
       {DecodeAttentionTuning{4, 1, 0, 256, 128, 128}, DecodeAttentionTuning{3, 0, 2, 128, 128, 64},
        DecodeAttentionTuning{3, 0, 64, 32, 32, 256}, DecodeAttentionTuning{3, 0, 0, 256, 128, 128}}) {
    DeviceBuffer tuned_out = poisoned_bf16(q_size);
    decode_attention(q_dev.as<bf16>(), device.layer(), device_meta, shape, scale, tuned_out.as<bf16>(),
                     workspace.data(), context_->info().num_sms, stream(), 0, false, tuning);
    context_->synchronize();
    EXPECT_LT(relative_error(download_bf16(tuned_out, q_size), expected), 1e-2)
        << c.name << ": " << tuning.stages << " stages, " << tuning.target_blocks_per_sm << " blocks per SM";
  }
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, Fp8AttentionParity,
    ::testing::Values(
        AttentionCase{"decode_gqa4_batch", {32, 8, 128}, {1, 1, 1, 1}, {1, 17, 300, 129}},
        AttentionCase{"decode_long_splits", {32, 8, 128}, {1}, {5000}},
        AttentionCase{"prefill_over_prefix", {32, 8, 128}, {37, 1, 20}, {37, 64, 90}},
        AttentionCase{"prefill_long", {32, 8, 128}, {300}, {1000}},
        AttentionCase{"mqa_head64", {8, 1, 64}, {5, 1}, {5, 700}},
        AttentionCase{"group12_chunked", {12, 1, 128}, {3, 1}, {40, 33}},
        AttentionCase{"qwen_group6", {12, 2, 128}, {1, 1}, {2048, 3}},
        AttentionCase{"decode_group2_hd64", {8, 4, 64}, {1, 1, 1}, {33, 1000, 2}},
        AttentionCase{"decode_group8", {32, 4, 128}, {1, 1, 1}, {3000, 45, 8}}),
    [](const ::testing::TestParamInfo<AttentionCase>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace kiln::cuda
