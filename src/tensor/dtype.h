// Element types of weights, activations and the KV cache, and the scalar conversions the CPU
// path uses. bf16 and f16 are stored as raw 16-bit patterns on the host.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace kiln {

enum class DType : uint8_t { kF32, kF16, kBF16, kF8E4M3 };

size_t dtype_size_bytes(DType dtype);
// "f32", "f16", "bf16", "fp8_e4m3".
std::string_view dtype_name(DType dtype);
// Accepts our names, torch's ("float32", "bfloat16", "float16", "half") and safetensors'
// ("F32", "BF16", "F16", "F8_E4M3").
std::optional<DType> parse_dtype(std::string_view name);

inline float bf16_to_f32(uint16_t bits) {
  const uint32_t widened = static_cast<uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &widened, sizeof(value));
  return value;
}

// Round to nearest even, as torch does; NaN stays NaN.
inline uint16_t f32_to_bf16(float value) {
  uint32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float f16_to_f32(uint16_t bits);
uint16_t f32_to_f16(float value);

}  // namespace kiln
