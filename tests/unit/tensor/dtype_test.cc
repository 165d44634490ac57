#include "tensor/dtype.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace kiln {
namespace {

TEST(DType, Bf16RoundTripIsExactForRepresentableValues) {
  for (float value : {0.0f, 1.0f, -2.5f, 65280.0f, 0x1p-60f}) {
    EXPECT_EQ(bf16_to_f32(f32_to_bf16(value)), value) << value;
  }
}

TEST(DType, Bf16RoundsToNearestEven) {
  // 1 + 2^-8 lies halfway between two bf16 values; ties go to the even mantissa (1.0).
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 1.0f / 256)), 1.0f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.0f + 3.0f / 256)), 1.0f + 4.0f / 256);
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(NAN))));
}

TEST(DType, F16MatchesIeeeHalfOnRandomValues) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> dist(-70000.0f, 70000.0f);
  for (int i = 0; i < 10000; ++i) {
    const float value = dist(rng) * (i % 3 == 0 ? 1e-6f : 1.0f);
    const float back = f16_to_f32(f32_to_f16(value));
    if (std::fabs(value) >= 65520.0f) {  // the rounding threshold to infinity
      EXPECT_TRUE(std::isinf(back)) << value;
    } else {
      // Half precision keeps 11 significant bits; subnormals keep an absolute 2^-24.
      EXPECT_LE(std::fabs(back - value), std::max(std::fabs(value) / 2048.0f, 6.0e-8f)) << value;
    }
  }
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f32_to_f16(65504.0f), 0x7bff);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
}

TEST(DType, ParsesTorchAndSafetensorsNames) {
  EXPECT_EQ(parse_dtype("bfloat16"), DType::kBF16);
  EXPECT_EQ(parse_dtype("BF16"), DType::kBF16);
  EXPECT_EQ(parse_dtype("float16"), DType::kF16);
  EXPECT_EQ(parse_dtype("F32"), DType::kF32);
  EXPECT_FALSE(parse_dtype("int8").has_value());
}

}  // namespace
}  // namespace kiln
