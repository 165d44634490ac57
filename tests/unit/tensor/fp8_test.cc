// The host FP8 E4M3 conversions against their definition and, where the CUDA headers are present
// (every machine that builds the CUDA backend, CI included), bit for bit against cuda_fp8.h's own
// host implementation of the conversion the kernels use.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "tensor/dtype.h"

#if defined(KILN_TEST_WITH_CUDA_FP8_HEADER)
#include <cuda_fp8.h>
#endif

namespace kiln {
namespace {

TEST(Fp8E4M3Test, DecodesEveryCodeAsTheFormatDefines) {
  EXPECT_EQ(fp8_e4m3_to_f32(0x00), 0.0f);
  EXPECT_TRUE(std::signbit(fp8_e4m3_to_f32(0x80)));
  EXPECT_EQ(fp8_e4m3_to_f32(0x01), std::ldexp(1.0f, -9));   // smallest subnormal
  EXPECT_EQ(fp8_e4m3_to_f32(0x07), 7 * std::ldexp(1.0f, -9));
  EXPECT_EQ(fp8_e4m3_to_f32(0x08), std::ldexp(1.0f, -6));   // smallest normal
  EXPECT_EQ(fp8_e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(fp8_e4m3_to_f32(0xfe), -448.0f);
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0x7f)));
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_f32(0xff)));
  // Every finite code round-trips, and codes are ordered like their values.
  for (int code = 0; code < 256; ++code) {
    if ((code & 0x7f) == 0x7f) continue;
    const float value = fp8_e4m3_to_f32(static_cast<uint8_t>(code));
    EXPECT_EQ(f32_to_fp8_e4m3(value), code == 0x80 ? 0x80 : code) << code;
    if (code > 0 && code < 0x7e) {
      EXPECT_LT(value, fp8_e4m3_to_f32(static_cast<uint8_t>(code + 1)));
    }
  }
}

TEST(Fp8E4M3Test, RoundsToNearestEvenAndSaturates) {
  EXPECT_EQ(f32_to_fp8_e4m3(1.0f + 1.0f / 16), 0x38);   // halfway to 1.125: ties to even (1.0)
  EXPECT_EQ(f32_to_fp8_e4m3(1.0f + 3.0f / 16), 0x3a);   // halfway 1.125..1.25: to 1.25
  EXPECT_EQ(f32_to_fp8_e4m3(1.0f + 1.0f / 15), 0x39);   // above halfway: up
  EXPECT_EQ(f32_to_fp8_e4m3(460.0f), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(464.0f), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(1e6f), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(-1e30f), 0xfe);
  EXPECT_EQ(f32_to_fp8_e4m3(std::numeric_limits<float>::infinity()), 0x7e);
  EXPECT_EQ(f32_to_fp8_e4m3(std::numeric_limits<float>::quiet_NaN()), 0x7f);
  EXPECT_EQ(f32_to_fp8_e4m3(-std::numeric_limits<float>::quiet_NaN()), 0x7f);
  EXPECT_EQ(f32_to_fp8_e4m3(std::ldexp(1.0f, -10)), 0x00);            // half the smallest: to 0
  EXPECT_EQ(f32_to_fp8_e4m3(std::nextafter(std::ldexp(1.0f, -10), 1.0f)), 0x01);
  EXPECT_EQ(f32_to_fp8_e4m3(3 * std::ldexp(1.0f, -10)), 0x02);        // 1.5 x smallest: to even
  EXPECT_EQ(f32_to_fp8_e4m3(std::ldexp(15.5f, -10)), 0x08);           // rounds up into the normals
  EXPECT_EQ(f32_to_fp8_e4m3(-0.0f), 0x80);
}

#if defined(KILN_TEST_WITH_CUDA_FP8_HEADER)
float from_bits(uint32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

uint8_t cuda_header_fp8(float value) {
  return static_cast<uint8_t>(__nv_cvt_float_to_fp8(value, __NV_SATFINITE, __NV_E4M3));
}

TEST(Fp8E4M3Test, EncodesEveryBf16ValueAsCudaFp8Does) {
  for (uint32_t bits = 0; bits < 0x10000u; ++bits) {
    const float value = bf16_to_f32(static_cast<uint16_t>(bits));
    ASSERT_EQ(f32_to_fp8_e4m3(value), cuda_header_fp8(value)) << "bf16 bits " << bits;
  }
}

TEST(Fp8E4M3Test, EncodesRandomAndBoundaryFloatsAsCudaFp8Does) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> any_bits;
  for (int i = 0; i < 200000; ++i) {
    const float value = from_bits(any_bits(rng));
    ASSERT_EQ(f32_to_fp8_e4m3(value), cuda_header_fp8(value)) << value;
  }
  // Every code's neighbourhood: the value, its midpoints with the next code, one ulp around them.
  for (int code = 0; code < 0x7e; ++code) {
    const float low = fp8_e4m3_to_f32(static_cast<uint8_t>(code));
    const float high = fp8_e4m3_to_f32(static_cast<uint8_t>(code + 1));
    const float mid = low + (high - low) / 2;
    for (float v : {low, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f), high}) {
      for (float s : {v, -v}) ASSERT_EQ(f32_to_fp8_e4m3(s), cuda_header_fp8(s)) << s;
    }
  }
  for (float v : {448.0f, 456.0f, 463.9f, 464.0f, 464.1f, 1e38f, std::ldexp(1.0f, -10)}) {
    ASSERT_EQ(f32_to_fp8_e4m3(v), cuda_header_fp8(v)) << v;
  }
}

TEST(Fp8E4M3Test, DecodesEveryCodeAsCudaFp8Does) {
  for (int code = 0; code < 256; ++code) {
    __nv_fp8_e4m3 fp8;
    fp8.__x = static_cast<__nv_fp8_storage_t>(code);
    const float expected = static_cast<float>(fp8);
    const float got = fp8_e4m3_to_f32(static_cast<uint8_t>(code));
    if (std::isnan(expected)) {
      EXPECT_TRUE(std::isnan(got)) << code;
    } else {
      EXPECT_EQ(got, expected) << code;
      EXPECT_EQ(std::signbit(got), std::signbit(expected)) << code;
    }
  }
}
#endif

}  // namespace
}  // namespace kiln
