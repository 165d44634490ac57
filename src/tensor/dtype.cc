#include "tensor/dtype.h"

#include <cmath>

namespace kiln {

size_t dtype_size_bytes(DType dtype) {
  switch (dtype) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kF8E4M3: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType dtype) {
  switch (dtype) {
    case DType::kF32: return "f32";
    case DType::kF16: return "f16";
    case DType::kBF16: return "bf16";
    case DType::kF8E4M3: return "fp8_e4m3";
  }
  return "?";
}

std::optional<DType> parse_dtype(std::string_view name) {
  if (name == "f32" || name == "F32" || name == "float32" || name == "float") return DType::kF32;
  if (name == "f16" || name == "F16" || name == "float16" || name == "half") return DType::kF16;
  if (name == "bf16" || name == "BF16" || name == "bfloat16") return DType::kBF16;
  if (name == "fp8_e4m3" || name == "F8_E4M3" || name == "float8_e4m3fn") return DType::kF8E4M3;
  return std::nullopt;
}

float f16_to_f32(uint16_t bits) {
  const uint32_t sign = (bits >> 15) & 1u;
  const uint32_t exponent = (bits >> 10) & 0x1fu;
  const uint32_t mantissa = bits & 0x3ffu;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  } else if (exponent == 31) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400u), static_cast<int>(exponent) - 25);
  }
  return sign ? -magnitude : magnitude;
}

uint16_t f32_to_f16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u);  // NaN
  if (abs_bits >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow -> inf
  if (abs_bits < 0x38800000u) {
    // Subnormal or zero in f16: scale into the 10-bit mantissa with round-to-nearest-even.
    float abs_value;
    std::memcpy(&abs_value, &abs_bits, sizeof(abs_value));
    const float scaled = abs_value * 16777216.0f;  // 2^24
    const uint32_t rounded = static_cast<uint32_t>(std::nearbyint(scaled));
    return static_cast<uint16_t>(sign | rounded);
  }
  const uint32_t rounding = 0xfffu + ((abs_bits >> 13) & 1u);
  const uint32_t rebased = abs_bits - (112u << 23) + rounding;
  return static_cast<uint16_t>(sign | (rebased >> 13));
}

uint8_t f32_to_fp8_e4m3(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  const uint8_t sign = static_cast<uint8_t>((bits >> 24) & 0x80u);
  const uint32_t abs_bits = bits & 0x7fffffffu;
  if (abs_bits > 0x7f800000u) return 0x7fu;            // NaN, canonical (sign dropped)
  if (abs_bits >= 0x43e80000u) return sign | 0x7eu;    // >= 464 = 448 + half an ulp: saturate
  if (abs_bits <= 0x3a800000u) return sign;            // <= 2^-10, half the smallest subnormal
  if (abs_bits < 0x3c800000u) {
    // Subnormal in E4M3 (below 2^-6): the code is |x| x 2^9 rounded to an integer, ties to even
    // (the scaling is exact; nearbyint rounds to nearest even in the default rounding mode).
    float abs_value;
    std::memcpy(&abs_value, &abs_bits, sizeof(abs_value));
    return sign | static_cast<uint8_t>(std::nearbyint(abs_value * 512.0f));
  }
  // Normal: keep 3 mantissa bits with round to nearest even, then rebias the exponent 127 -> 7.
  // A carry out of the mantissa moves into the exponent, as it should; 448 < x < 464 rounds
  // down to 448 (the saturation check above caught the rest).
  const uint32_t rounding = 0x7ffffu + ((abs_bits >> 20) & 1u);
  const uint32_t rounded = (abs_bits + rounding) >> 20;  // exponent and 3 mantissa bits
  return sign | static_cast<uint8_t>(rounded - (120u << 3));
}

}  // namespace kiln
