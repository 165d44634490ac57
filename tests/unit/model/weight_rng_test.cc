#include "model/weight_rng.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

namespace kiln {
namespace {

uint32_t bits(float value) {
  uint32_t result;
  std::memcpy(&result, &value, 4);
  return result;
}

// Values printed by the independent Python implementation, tools/synth_rng_reference.py:
//   tools/synth_rng_reference.py --seed 0 --name model.norm.weight --mean 1.0 --count 3
//   tools/synth_rng_reference.py --seed 42 --name model.layers.0.self_attn.q_proj.weight --count 5
//   tools/synth_rng_reference.py --seed 7 --name lm_head.weight --std 1.0 --count 3
TEST(WeightRng, MatchesPythonReference) {
  std::vector<float> out(5);
  fill_normal(weight_stream_key(0, "model.norm.weight"), 0, 3, 1.0, 0.02, out.data());
  EXPECT_EQ(bits(out[0]), 0x3f791977u);
  EXPECT_EQ(bits(out[1]), 0x3f779057u);
  EXPECT_EQ(bits(out[2]), 0x3f7ef602u);

  fill_normal(weight_stream_key(42, "model.layers.0.self_attn.q_proj.weight"), 0, 5, 0.0, 0.02, out.data());
  const uint32_t expected[] = {0xbcc2034bu, 0x3bbd4b70u, 0xbd07e918u, 0xbcb81bedu, 0x3ca1721cu};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(bits(out[static_cast<size_t>(i)]), expected[i]) << i;

  fill_normal(weight_stream_key(7, "lm_head.weight"), 0, 3, 0.0, 1.0, out.data());
  EXPECT_EQ(bits(out[0]), 0x3ddeb560u);
  EXPECT_EQ(bits(out[1]), 0x3ec84940u);
  EXPECT_EQ(bits(out[2]), 0xbf51d8d9u);
}

TEST(WeightRng, AnyRangeEqualsTheSliceOfTheWhole) {
  const uint64_t key = weight_stream_key(3, "w");
  std::vector<float> whole(101);
  fill_normal(key, 0, whole.size(), 0.0, 1.0, whole.data());
  for (uint64_t first : {0u, 1u, 2u, 37u, 99u}) {
    for (size_t count : {size_t{0}, size_t{1}, size_t{2}, size_t{3}, size_t{101 - first}}) {
      if (first + count > whole.size()) continue;
      std::vector<float> part(count + 1, -123.0f);
      fill_normal(key, first, count, 0.0, 1.0, part.data());
      for (size_t i = 0; i < count; ++i) EXPECT_EQ(part[i], whole[first + i]) << first << "+" << i;
      EXPECT_EQ(part[count], -123.0f) << "wrote past the range";
    }
  }
}

TEST(WeightRng, StreamsDifferBySeedAndName) {
  EXPECT_NE(weight_stream_key(0, "a"), weight_stream_key(1, "a"));
  EXPECT_NE(weight_stream_key(0, "a"), weight_stream_key(0, "b"));
  EXPECT_EQ(weight_stream_key(5, "model.norm.weight"), weight_stream_key(5, "model.norm.weight"));
}

TEST(WeightRng, IsStandardNormal) {
  constexpr size_t kCount = 200000;
  std::vector<float> values(kCount);
  fill_normal(weight_stream_key(11, "stats"), 0, kCount, 0.0, 1.0, values.data());
  double sum = 0, sum_sq = 0, sum_4 = 0;
  size_t beyond_2 = 0;
  for (float v : values) {
    ASSERT_TRUE(std::isfinite(v));
    sum += v;
    sum_sq += static_cast<double>(v) * v;
    sum_4 += std::pow(static_cast<double>(v), 4);
    beyond_2 += std::fabs(v) > 2.0f;
  }
  EXPECT_NEAR(sum / kCount, 0.0, 0.01);
  EXPECT_NEAR(sum_sq / kCount, 1.0, 0.01);
  EXPECT_NEAR(sum_4 / kCount, 3.0, 0.1);                  // normal kurtosis
  EXPECT_NEAR(static_cast<double>(beyond_2) / kCount, 0.0455, 0.003);  // P(|z| > 2)
}

}  // namespace
}  // namespace kiln
