// Device halves of the FP8 rule of kernels/fp8_linear.h, bit for bit the host's: the scale of an
// absmax (IEEE division, fmaxf ignores a NaN as std::fmax does), a code from a value
// (cvt.rn.satfinite.e4m3 after an IEEE division; cuda_fp8.h's conversion is the one the host
// twin was checked against), and a code's exact value.
#pragma once

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <cstdint>

#include "kernels/fp8_linear.h"

namespace kiln::cuda {

__device__ __forceinline__ float fp8_scale_for_absmax_device(float absmax) {
  return fmaxf(__fdiv_rn(absmax, kFp8E4M3Max), kFp8MinScale);
}

__device__ __forceinline__ uint8_t fp8_quantize_device(float x, float scale) {
  return __nv_cvt_float_to_fp8(__fdiv_rn(x, scale), __NV_SATFINITE, __NV_E4M3);
}

__device__ __forceinline__ float fp8_to_float(uint8_t code) {
  return __half2float(__half(__nv_cvt_fp8_to_halfraw(code, __NV_E4M3)));
}

// Two codes packed low byte first (the first element in memory) to their values.
__device__ __forceinline__ float2 fp8x2_to_float2(uint16_t codes) {
  return __half22float2(__half2(__nv_cvt_fp8x2_to_halfraw2(codes, __NV_E4M3)));
}

}  // namespace kiln::cuda
