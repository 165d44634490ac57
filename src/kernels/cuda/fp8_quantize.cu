// FP8 conversions around the GEMMs: activations (and, at load, weight rows) quantized by the rule
// of kernels/fp8_linear.h, weights dequantized to bf16 for the weight-only GEMM, and the bias add
// of FP8 GEMMs. All memory-bound and row-local: one block per row, 16-byte loads.
#include <cuda_bf16.h>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/fp8_device.cuh"
#include "kernels/cuda/fp8_linear_cuda.h"
#include "kernels/cuda/grid_dependency.cuh"
#include "kernels/cuda/warp_reduce.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;
constexpr int kWarps = kThreads / 32;

// The largest |x| of the block's values; every thread gets it.
__device__ float block_absmax(float value, float* scratch /*[kWarps]*/) {
  value = warp_max(value);
  if (threadIdx.x % 32 == 0) scratch[threadIdx.x / 32] = value;
  __syncthreads();
  float result = scratch[0];
#pragma unroll
  for (int w = 1; w < kWarps; ++w) result = fmaxf(result, scratch[w]);
  return result;
}

// Eight bf16 values of a 16-byte chunk as floats.
__device__ __forceinline__ void unpack8(const uint4& chunk, float* out) {
  const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&chunk);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 f = __bfloat1622float2(pairs[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

// One row per block. Per token (or static): the row's absmax over all threads, then each thread
// quantizes its chunks of 8. Per group: warp w takes groups w, w + 8, ..., each lane 4 columns.
__global__ void __launch_bounds__(kThreads)
    quantize_rows_kernel(const __nv_bfloat16* __restrict__ x, int m, int k, Fp8ActivationQuant quant,
                         const float* __restrict__ input_scale, uint8_t* __restrict__ q, float* __restrict__ scales) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  __shared__ float scratch[kWarps];
  const int row = blockIdx.x;
  const __nv_bfloat16* x_row = x + static_cast<size_t>(row) * k;
  uint8_t* q_row = q + static_cast<size_t>(row) * k;
  if (quant == Fp8ActivationQuant::kDynamicPerTokenGroup) {
    const int groups = (k + kFp8GroupSize - 1) / kFp8GroupSize;
    const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    for (int g = warp; g < groups; g += kWarps) {
      const int column = g * kFp8GroupSize + lane * 4;
      float values[4] = {0.0f, 0.0f, 0.0f, 0.0f};
      const bool inside = column < k;  // k % 8 == 0: a lane's 4 columns are all in or all out
      if (inside) {
        const uint2 raw = *reinterpret_cast<const uint2*>(x_row + column);
        const float2 a = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.x));
        const float2 b = __bfloat1622float2(*reinterpret_cast<const __nv_bfloat162*>(&raw.y));
        values[0] = a.x, values[1] = a.y, values[2] = b.x, values[3] = b.y;
      }
      float absmax = fmaxf(fmaxf(fabsf(values[0]), fabsf(values[1])), fmaxf(fabsf(values[2]), fabsf(values[3])));
      absmax = warp_max(absmax);
      const float scale = fp8_scale_for_absmax_device(absmax);
      if (lane == 0) scales[static_cast<size_t>(g) * m + row] = scale;
      if (inside) {
        uint32_t packed = 0;
#pragma unroll
        for (int i = 0; i < 4; ++i) packed |= static_cast<uint32_t>(fp8_quantize_device(values[i], scale)) << (8 * i);
        *reinterpret_cast<uint32_t*>(q_row + column) = packed;
      }
    }
    return;
  }
  const int chunks = k / 8;
  float scale;
  if (quant == Fp8ActivationQuant::kStaticPerTensor) {
    scale = *input_scale;
  } else {
    float absmax = 0.0f;
    for (int c = threadIdx.x; c < chunks; c += kThreads) {
      float values[8];
      unpack8(reinterpret_cast<const uint4*>(x_row)[c], values);
#pragma unroll
      for (int i = 0; i < 8; ++i) absmax = fmaxf(absmax, fabsf(values[i]));
    }
    scale = fp8_scale_for_absmax_device(block_absmax(absmax, scratch));
  }
  if (threadIdx.x == 0) scales[row] = scale;
  for (int c = threadIdx.x; c < chunks; c += kThreads) {
    float values[8];
    unpack8(reinterpret_cast<const uint4*>(x_row)[c], values);
    uint2 packed = make_uint2(0, 0);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      packed.x |= static_cast<uint32_t>(fp8_quantize_device(values[i], scale)) << (8 * i);
      packed.y |= static_cast<uint32_t>(fp8_quantize_device(values[4 + i], scale)) << (8 * i);
    }
    reinterpret_cast<uint2*>(q_row)[c] = packed;
  }
}

// 8 codes per thread-iteration: out = bf16(float(code) * scale).
__global__ void dequantize_kernel(const uint8_t* __restrict__ codes, const float* __restrict__ scales,
                                  bool blocks, int n, int k, __nv_bfloat16* __restrict__ out) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  const size_t chunks = static_cast<size_t>(n) * k / 8;
  const int k_blocks = (k + kFp8GroupSize - 1) / kFp8GroupSize;
  for (size_t c = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; c < chunks;
       c += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const size_t first = c * 8;
    const int row = static_cast<int>(first / k), column = static_cast<int>(first % k);
    const float scale =
        blocks ? scales[(row / kFp8GroupSize) * k_blocks + column / kFp8GroupSize] : scales[row];
    const uint2 raw = reinterpret_cast<const uint2*>(codes)[c];
    const uint16_t* pairs_in = reinterpret_cast<const uint16_t*>(&raw);
    uint4 packed;
    __nv_bfloat162* pairs_out = reinterpret_cast<__nv_bfloat162*>(&packed);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 values = fp8x2_to_float2(pairs_in[i]);
      pairs_out[i] = __floats2bfloat162_rn(values.x * scale, values.y * scale);
    }
    reinterpret_cast<uint4*>(out)[c] = packed;
  }
}

__global__ void add_bias_kernel(__nv_bfloat16* __restrict__ y, const __nv_bfloat16* __restrict__ bias, int m, int n) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  const size_t total = static_cast<size_t>(m) * n;
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    y[i] = __float2bfloat16(__bfloat162float(y[i]) + __bfloat162float(bias[i % n]));
  }
}

int grid_for(size_t work, int per_block) {
  const size_t blocks = (work + per_block - 1) / per_block;
  return static_cast<int>(blocks < 65536 ? (blocks > 0 ? blocks : 1) : 65536);
}

}  // namespace

void quantize_activations_fp8(const __nv_bfloat16* x, int m, int k, Fp8ActivationQuant quant, const float* input_scale,
                              uint8_t* q, float* scales, cudaStream_t stream) {
  if (quant == Fp8ActivationQuant::kNone || m <= 0) return;
  KILN_CHECK(k % 8 == 0) << "quantize_activations_fp8 needs k % 8 == 0, got " << k;
  KILN_CHECK(quant != Fp8ActivationQuant::kStaticPerTensor || input_scale != nullptr) << "static scale missing";
  launch_with_grid_dependency(quantize_rows_kernel, dim3(m), dim3(kThreads), 0, stream, x, m, k, quant, input_scale,
                              q, scales);
}

void quantize_weight_rows_fp8(const __nv_bfloat16* w, int n, int k, uint8_t* q, float* scales, cudaStream_t stream) {
  // The weight rule is the per-token activation rule over rows.
  quantize_activations_fp8(w, n, k, Fp8ActivationQuant::kDynamicPerToken, nullptr, q, scales, stream);
}

void dequantize_fp8_weight(const Fp8Weight& w, __nv_bfloat16* out, cudaStream_t stream) {
  KILN_CHECK(w.k % 8 == 0) << "dequantize_fp8_weight needs k % 8 == 0, got " << w.k;
  const size_t chunks = static_cast<size_t>(w.n) * w.k / 8;
  launch_with_grid_dependency(dequantize_kernel, dim3(grid_for(chunks, kThreads)), dim3(kThreads), 0, stream,
                              w.weight, w.weight_scale, w.weight_scaling == Fp8WeightScaling::kBlock, w.n, w.k, out);
}

void add_bias(__nv_bfloat16* y, const __nv_bfloat16* bias, int m, int n, cudaStream_t stream) {
  if (m <= 0 || n <= 0) return;
  launch_with_grid_dependency(add_bias_kernel, dim3(grid_for(static_cast<size_t>(m) * n, kThreads)), dim3(kThreads),
                              0, stream, y, bias, m, n);
}

}  // namespace kiln::cuda
