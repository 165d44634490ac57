// The FP8 KV cache's checkpoint scales: read per layer from self_attn.k_scale / v_scale (f32,
// bf16 or f16 scalars), and refused with the tensor named when one is missing, not one positive
// number, or per head.
#include "model/kv_cache_scales.h"

#include <gtest/gtest.h>

#include <vector>

namespace kiln {
namespace {

TensorView scalar_f32(const float* value, std::vector<int64_t> shape = {1}) {
  return TensorView{value, DType::kF32, std::move(shape)};
}

TEST(KvCacheScalesTest, ReadsEveryLayersScalesOrNone) {
  ModelWeights weights;
  weights.layers.resize(2);
  auto none = kv_scales_from_weights(weights);
  ASSERT_TRUE(none.ok()) << none.message();
  EXPECT_TRUE(none->empty());

  const float k0 = 0.5f, v0 = 0.25f, k1 = 0.125f;
  const uint16_t v1 = f32_to_bf16(0.75f);
  weights.layers[0].k_cache_scale = scalar_f32(&k0);
  weights.layers[0].v_cache_scale = scalar_f32(&v0, {});  // a scalar tensor: shape []
  weights.layers[1].k_cache_scale = scalar_f32(&k1);
  weights.layers[1].v_cache_scale = TensorView{&v1, DType::kBF16, {1}};
  auto scales = kv_scales_from_weights(weights);
  ASSERT_TRUE(scales.ok()) << scales.message();
  EXPECT_EQ(*scales, (std::vector<float>{0.5f, 0.25f, 0.125f, 0.75f}));
}

TEST(KvCacheScalesTest, RefusesIncompleteOrMalformedScales) {
  const float good = 0.5f, zero = 0.0f, per_head[2] = {0.5f, 0.5f};
  ModelWeights weights;
  weights.layers.resize(2);
  weights.layers[0].k_cache_scale = scalar_f32(&good);
  weights.layers[0].v_cache_scale = scalar_f32(&good);
  auto partial = kv_scales_from_weights(weights);
  ASSERT_FALSE(partial.ok());
  EXPECT_NE(partial.message().find("1 of 2 layers"), std::string::npos) << partial.message();

  weights.layers[1].k_cache_scale = scalar_f32(&good);
  auto lonely = kv_scales_from_weights(weights);
  ASSERT_FALSE(lonely.ok());
  EXPECT_NE(lonely.message().find("model.layers.1.self_attn.k_scale without v_scale"), std::string::npos)
      << lonely.message();

  weights.layers[1].v_cache_scale = scalar_f32(&zero);
  auto non_positive = kv_scales_from_weights(weights);
  ASSERT_FALSE(non_positive.ok());
  EXPECT_NE(non_positive.message().find("model.layers.1.self_attn.v_scale"), std::string::npos)
      << non_positive.message();

  weights.layers[1].v_cache_scale = scalar_f32(per_head, {2});
  auto heads = kv_scales_from_weights(weights);
  ASSERT_FALSE(heads.ok());
  EXPECT_NE(heads.message().find("not per head"), std::string::npos) << heads.message();
}

}  // namespace
}  // namespace kiln
