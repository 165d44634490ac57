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

// FP8 E4M3 ("e4m3fn": no infinities, 0x7f/0xff are NaN, largest finite 448), as cuda_fp8.h's
// __nv_cvt_float_to_fp8(x, __NV_SATFINITE, __NV_E4M3) and the hardware's cvt.rn.satfinite: round
// to nearest even, magnitudes beyond 448 saturate to +-448, every NaN becomes 0x7f.
// Bit for bit the same as the device (tests/unit/tensor/fp8_test.cc checks it against the CUDA
// header's host implementation), so the CPU backend and the kernels quantize identically.
uint8_t f32_to_fp8_e4m3(float value);
inline float fp8_e4m3_to_f32(uint8_t bits) {
  // Every E4M3 value is exact in f32: place exponent and mantissa, rebias 7 -> 127.
  const uint32_t sign = static_cast<uint32_t>(bits & 0x80u) << 24;
  const uint32_t exponent = (bits >> 3) & 0xfu;
  const uint32_t mantissa = bits & 0x7u;
  uint32_t out;
  if (exponent == 0xfu && mantissa == 0x7u) {
    out = sign | 0x7fc00000u;  // NaN
  } else if (exponent == 0) {
    // Subnormal: mantissa x 2^-9.
    const float magnitude = static_cast<float>(mantissa) * 0x1.0p-9f;
    std::memcpy(&out, &magnitude, sizeof(out));
    out |= sign;
  } else {
    out = sign | ((exponent + 120u) << 23) | (mantissa << 20);
  }
  float value;
  std::memcpy(&value, &out, sizeof(value));
  return value;
}
inline constexpr float kFp8E4M3Max = 448.0f;

}  // namespace kiln
