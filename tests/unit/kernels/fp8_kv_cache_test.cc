// The FP8 KV cache's CPU twins: the write stores fp8(value / scale) bit for bit as
// f32_to_fp8_e4m3 (tensor/dtype.h, the same rounding as the GPU's), calculates vLLM's scales from
// the step when asked, reports clipping; attention over the codes equals attention over their
// dequantized values.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"

namespace kiln::cpu {
namespace {

using testing::isas_to_test;
using testing::random_floats;

struct Fp8Cache {
  explicit Fp8Cache(size_t elements) : k(elements, 0xAA), v(elements, 0xAA) {}
  Fp8KvCacheLayer layer() { return {k.data(), v.data(), &k_scale, &v_scale, &saturated}; }
  std::vector<uint8_t> k, v;
  float k_scale = 1.0f, v_scale = 1.0f;
  int32_t saturated = 0;
};

TEST(Fp8KvCacheTest, WritesRotatedKeysAndValuesAsScaledCodes) {
  ThreadPool pool(2);
  const AttentionShape shape{4, 2, 16};
  const int num_tokens = 3, max_position = 40, hd = shape.head_dim;
  const std::vector<float> cos_sin = random_floats(static_cast<size_t>(max_position) * hd, 20);
  const std::vector<float> q0 = random_floats(static_cast<size_t>(num_tokens) * 4 * hd, 21, -3, 3);
  const std::vector<float> k = random_floats(static_cast<size_t>(num_tokens) * 2 * hd, 22, -3, 3);
  const std::vector<float> v = random_floats(k.size(), 23, -3, 3);
  const std::vector<int32_t> positions = {0, 39, 5};
  const std::vector<int64_t> slots = {6, 1, -1};
  for (Isa isa : isas_to_test()) {
    // The reference: the f32 cache write, then each value quantized.
    std::vector<float> q_ref = q0, k_ref(8 * 2 * hd), v_ref(8 * 2 * hd);
    rope_and_cache_kv(CpuContext{&pool, isa}, q_ref.data(), k.data(), v.data(), positions.data(), slots.data(),
                      num_tokens, shape, cos_sin.data(), max_position, k_ref.data(), v_ref.data());
    Fp8Cache cache(8 * 2 * hd);
    cache.k_scale = 0.02f;
    cache.v_scale = 0.5f;
    std::vector<float> q = q0;
    rope_and_cache_kv(CpuContext{&pool, isa}, q.data(), k.data(), v.data(), positions.data(), slots.data(), num_tokens,
                      shape, cos_sin.data(), max_position, cache.layer(), /*calculate_scales=*/false);
    EXPECT_EQ(q, q_ref);  // queries are rotated as before
    for (int64_t slot : {6, 1}) {
      for (int i = 0; i < 2 * hd; ++i) {
        const size_t at = static_cast<size_t>(slot) * 2 * hd + i;
        EXPECT_EQ(cache.k[at], f32_to_fp8_e4m3(k_ref[at] / 0.02f)) << at;
        EXPECT_EQ(cache.v[at], f32_to_fp8_e4m3(v_ref[at] / 0.5f)) << at;
      }
    }
    EXPECT_EQ(cache.k[0], 0xAA);  // slot 0 untouched; the padding token wrote nothing
    // Keys up to ~4.2 over a scale of 0.02 reach ~210 < 448: nothing clipped. A tenth of it clips.
    EXPECT_EQ(cache.saturated, 0);
    cache.k_scale = 0.002f;
    rope_and_cache_kv(CpuContext{&pool, isa}, q.data(), k.data(), v.data(), positions.data(), slots.data(), num_tokens,
                      shape, cos_sin.data(), max_position, cache.layer(), false);
    EXPECT_EQ(cache.saturated, 1);
    int clipped = 0;  // clipped keys hold +-448, the largest finite code
    for (uint8_t code : cache.k) clipped += (code & 0x7f) == 0x7e;
    EXPECT_GT(clipped, 0);
  }
}

TEST(Fp8KvCacheTest, CalculatesVllmScalesFromTheStep) {
  ThreadPool pool(1);
  const AttentionShape shape{2, 1, 8};
  const int num_tokens = 2, max_position = 8, hd = shape.head_dim;
  std::vector<float> cos_sin(static_cast<size_t>(max_position) * hd);
  for (int p = 0; p < max_position; ++p) {
    for (int i = 0; i < hd / 2; ++i) cos_sin[p * hd + i] = 1.0f;  // cos 1, sin 0: no rotation
  }
  std::vector<float> q(static_cast<size_t>(num_tokens) * 2 * hd, 0.1f);
  std::vector<float> k(static_cast<size_t>(num_tokens) * hd, 0.25f), v(k.size(), -0.5f);
  k[5] = -40.0f;      // |k| max 40 -> k_scale 0.2
  v[hd + 3] = 12.0f;  // |v| max 12 -> v_scale 0.12
  std::vector<float> k_pad(k), v_pad(v);
  k_pad[hd] = 1000.0f;  // on a padding token: not counted
  const std::vector<int32_t> positions = {1, 2};
  const std::vector<int64_t> slots = {0, 1};
  Fp8Cache cache(4 * hd);
  rope_and_cache_kv(CpuContext{&pool, Isa::kScalar}, q.data(), k.data(), v.data(), positions.data(), slots.data(),
                    num_tokens, shape, cos_sin.data(), max_position, cache.layer(), /*calculate_scales=*/true);
  EXPECT_FLOAT_EQ(cache.k_scale, 40.0f / kKvScaleKRange);
  EXPECT_FLOAT_EQ(cache.v_scale, 12.0f / kKvScaleVRange);
  EXPECT_EQ(cache.saturated, 0);
  EXPECT_EQ(cache.k[5], f32_to_fp8_e4m3(-40.0f / cache.k_scale));
  const std::vector<int64_t> padded = {0, -1};
  rope_and_cache_kv(CpuContext{&pool, Isa::kScalar}, q.data(), k_pad.data(), v_pad.data(), positions.data(),
                    padded.data(), num_tokens, shape, cos_sin.data(), max_position, cache.layer(), true);
  EXPECT_FLOAT_EQ(cache.k_scale, 40.0f / kKvScaleKRange);
  // All zeros: scale 1.
  std::vector<float> zeros(k.size(), 0.0f);
  rope_and_cache_kv(CpuContext{&pool, Isa::kScalar}, q.data(), zeros.data(), zeros.data(), positions.data(),
                    slots.data(), num_tokens, shape, cos_sin.data(), max_position, cache.layer(), true);
  EXPECT_EQ(cache.k_scale, 1.0f);
  EXPECT_EQ(cache.v_scale, 1.0f);
}

TEST(Fp8KvCacheTest, AttentionOverCodesEqualsAttentionOverTheirValues) {
  ThreadPool pool(3);
  const int block_size = 4, num_blocks = 20;
  const std::vector<int32_t> seq_lens = {11, 10, 3};
  const std::vector<int32_t> query_start = {0, 5, 6, 9};
  const std::vector<int32_t> tables = {17, 3, 9, /**/ 0, 12, 5, /**/ 8, -1, -1};
  for (const AttentionShape shape : {AttentionShape{4, 2, 16}, AttentionShape{3, 1, 64}}) {
    const int hd = shape.head_dim;
    const int num_tokens = query_start.back();
    const std::vector<float> q = random_floats(static_cast<size_t>(num_tokens) * shape.num_heads * hd, 30, -2, 2);
    const size_t elements = static_cast<size_t>(num_blocks) * block_size * shape.num_kv_heads * hd;
    Fp8Cache cache(elements);
    cache.k_scale = 0.01f;
    cache.v_scale = 0.003f;
    std::vector<float> k_values(elements), v_values(elements);
    const std::vector<float> k_source = random_floats(elements, 31, -2, 2);
    const std::vector<float> v_source = random_floats(elements, 32, -1, 1);
    for (size_t i = 0; i < elements; ++i) {
      cache.k[i] = f32_to_fp8_e4m3(k_source[i] / cache.k_scale);
      cache.v[i] = f32_to_fp8_e4m3(v_source[i] / cache.v_scale);
      k_values[i] = fp8_e4m3_to_f32(cache.k[i]) * cache.k_scale;
      v_values[i] = fp8_e4m3_to_f32(cache.v[i]) * cache.v_scale;
    }
    const PagedAttentionMetadata meta{query_start.data(), seq_lens.data(), tables.data(), 3, 3, block_size,
                                      num_tokens,         11};
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (Isa isa : isas_to_test()) {
      std::vector<float> want(q.size(), 9.0f), got(q.size(), 7.0f);
      paged_attention(CpuContext{&pool, isa}, q.data(), k_values.data(), v_values.data(), meta, shape, scale,
                      want.data());
      paged_attention(CpuContext{&pool, isa}, q.data(), cache.layer(), meta, shape, scale, got.data());
      EXPECT_EQ(got, want);
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
