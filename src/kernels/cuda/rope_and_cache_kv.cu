// Rotary embedding of q and k fused with the paged KV-cache write, into a bf16 cache or an FP8
// one (E4M3 codes with a scale per tensor, vLLM's fp8 cache). One block per token.
//
// The rotation follows HF's bf16 model: every product and the sum rounded to bf16, so the key
// written is the bf16 key HF's attention sees; an FP8 cache then stores fp8(key / k_scale) (and
// fp8(value / v_scale)), rounded to nearest even and clipped at +-448 as the hardware's
// cvt.rn.satfinite does, which tensor/dtype.h's f32_to_fp8_e4m3 reproduces bit for bit.
#include <cuda_bf16.h>
#include <cuda_fp8.h>

#include <type_traits>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/grid_dependency.cuh"
#include "kernels/cuda/ops_cuda.h"

namespace kiln::cuda {
namespace {

__device__ __forceinline__ float round_bf16(float value) { return __bfloat162float(__float2bfloat16(value)); }

// HF: x * cos + rotate_half(x) * sin for the pair (i, i + half), every product and the sum
// rounded to bf16.
__device__ __forceinline__ void rotate_pair(const bf16* in, const float* cos_sin_row, int half, int i, float* first,
                                            float* second) {
  const float cos_value = round_bf16(cos_sin_row[i]);
  const float sin_value = round_bf16(cos_sin_row[half + i]);
  const float a = __bfloat162float(in[i]), b = __bfloat162float(in[i + half]);
  *first = round_bf16(round_bf16(a * cos_value) + round_bf16(-b * sin_value));
  *second = round_bf16(round_bf16(b * cos_value) + round_bf16(a * sin_value));
}

// How a cache element is stored: bf16 as is; FP8 divided by its tensor's scale and rounded,
// noting whether it had to clip.
struct Bf16Store {
  __device__ __forceinline__ bf16 operator()(float x, bool*) const { return __float2bfloat16(x); }
};
struct Fp8Store {
  float scale;
  __device__ __forceinline__ uint8_t operator()(float x, bool* clipped) const {
    const float scaled = x / scale;
    *clipped = *clipped || fabsf(scaled) > 448.0f;
    return static_cast<uint8_t>(__nv_cvt_float_to_fp8(scaled, __NV_SATFINITE, __NV_E4M3));
  }
};

template <typename Cache>
__global__ void rope_and_cache_kv_kernel(bf16* __restrict__ q, const bf16* __restrict__ k, const bf16* __restrict__ v,
                                         const int32_t* __restrict__ positions, const int64_t* __restrict__ slot_mapping,
                                         int num_heads, int num_kv_heads, int head_dim, const float* __restrict__ cos_sin,
                                         Cache* __restrict__ k_cache, Cache* __restrict__ v_cache,
                                         const float* __restrict__ k_scale, const float* __restrict__ v_scale,
                                         int32_t* __restrict__ saturated, int q_stride, int kv_stride) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  const int token = blockIdx.x;
  const int half = head_dim / 2;
  const float* row = cos_sin + static_cast<size_t>(positions[token]) * head_dim;
  const int64_t slot = slot_mapping[token];

  bf16* q_token = q + static_cast<size_t>(token) * q_stride;
  for (int index = threadIdx.x; index < num_heads * half; index += blockDim.x) {
    const int head = index / half, i = index % half;
    bf16* q_head = q_token + head * head_dim;
    float first, second;
    rotate_pair(q_head, row, half, i, &first, &second);
    q_head[i] = __float2bfloat16(first);
    q_head[i + half] = __float2bfloat16(second);
  }
  if (slot < 0) return;
  using Store = std::conditional_t<sizeof(Cache) == 1, Fp8Store, Bf16Store>;
  Store store_k{}, store_v{};
  if constexpr (sizeof(Cache) == 1) store_k.scale = *k_scale, store_v.scale = *v_scale;
  bool clipped = false;
  const size_t kv_offset = static_cast<size_t>(token) * kv_stride;
  const size_t cache_offset = static_cast<size_t>(slot) * num_kv_heads * head_dim;
  for (int index = threadIdx.x; index < num_kv_heads * half; index += blockDim.x) {
    const int head = index / half, i = index % half;
    float first, second;
    rotate_pair(k + kv_offset + head * head_dim, row, half, i, &first, &second);
    k_cache[cache_offset + head * head_dim + i] = store_k(first, &clipped);
    k_cache[cache_offset + head * head_dim + i + half] = store_k(second, &clipped);
  }
  for (int index = threadIdx.x; index < num_kv_heads * head_dim; index += blockDim.x) {
    v_cache[cache_offset + index] = store_v(__bfloat162float(v[kv_offset + index]), &clipped);
  }
  if (clipped && saturated != nullptr) *saturated = 1;  // racing writers all write 1
}

// --calculate-kv-scales, first pass: the largest |k| (rotated, as written) and |v| of the tokens
// with a slot, as float bits (non-negative floats order as their bits) into the zeroed scale
// floats themselves.
__global__ void kv_absmax_kernel(const bf16* __restrict__ k, const bf16* __restrict__ v,
                                 const int32_t* __restrict__ positions, const int64_t* __restrict__ slot_mapping,
                                 int num_kv_heads, int head_dim, const float* __restrict__ cos_sin, int kv_stride,
                                 unsigned int* __restrict__ k_max_bits, unsigned int* __restrict__ v_max_bits) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  const int token = blockIdx.x;
  if (slot_mapping[token] < 0) return;
  const int half = head_dim / 2;
  const float* row = cos_sin + static_cast<size_t>(positions[token]) * head_dim;
  const size_t kv_offset = static_cast<size_t>(token) * kv_stride;
  float k_max = 0.0f, v_max = 0.0f;
  for (int index = threadIdx.x; index < num_kv_heads * half; index += blockDim.x) {
    const int head = index / half, i = index % half;
    float first, second;
    rotate_pair(k + kv_offset + head * head_dim, row, half, i, &first, &second);
    k_max = fmaxf(k_max, fmaxf(fabsf(first), fabsf(second)));
  }
  for (int index = threadIdx.x; index < num_kv_heads * head_dim; index += blockDim.x) {
    v_max = fmaxf(v_max, fabsf(__bfloat162float(v[kv_offset + index])));
  }
  for (int offset = 16; offset > 0; offset /= 2) {
    k_max = fmaxf(k_max, __shfl_xor_sync(0xffffffffu, k_max, offset));
    v_max = fmaxf(v_max, __shfl_xor_sync(0xffffffffu, v_max, offset));
  }
  if (threadIdx.x % 32 == 0) {
    atomicMax(k_max_bits, __float_as_uint(k_max));
    atomicMax(v_max_bits, __float_as_uint(v_max));
  }
}

// Second pass: each maximum replaced by its scale; a tensor of zeros gets scale 1.
__global__ void kv_scales_from_absmax_kernel(float* __restrict__ k_scale, float* __restrict__ v_scale) {
  grid_dependency_wait();
  grid_dependency_launch_dependents();
  const float k_max = *k_scale, v_max = *v_scale;
  *k_scale = k_max > 0.0f ? k_max / kKvScaleKRange : 1.0f;
  *v_scale = v_max > 0.0f ? v_max / kKvScaleVRange : 1.0f;
}

}  // namespace

void rope_and_cache_kv(bf16* q, const bf16* k, const bf16* v, const int32_t* positions, const int64_t* slot_mapping,
                       int num_tokens, const AttentionShape& shape, const float* cos_sin, int max_position,
                       bf16* k_cache, bf16* v_cache, cudaStream_t stream, int token_stride) {
  if (num_tokens == 0) return;
  const int q_stride = token_stride ? token_stride : shape.num_heads * shape.head_dim;
  const int kv_stride = token_stride ? token_stride : shape.num_kv_heads * shape.head_dim;
  launch_with_grid_dependency(rope_and_cache_kv_kernel<bf16>, dim3(num_tokens), dim3(256), 0, stream, q, k, v,
                              positions, slot_mapping, shape.num_heads, shape.num_kv_heads, shape.head_dim, cos_sin,
                              k_cache, v_cache, nullptr, nullptr, nullptr, q_stride, kv_stride);
  KILN_CUDA_CHECK_LAUNCH();
}

void rope_and_cache_kv(bf16* q, const bf16* k, const bf16* v, const int32_t* positions, const int64_t* slot_mapping,
                       int num_tokens, const AttentionShape& shape, const float* cos_sin, int max_position,
                       const Fp8KvCacheLayer& cache, bool calculate_scales, cudaStream_t stream, int token_stride) {
  if (num_tokens == 0) return;
  const int q_stride = token_stride ? token_stride : shape.num_heads * shape.head_dim;
  const int kv_stride = token_stride ? token_stride : shape.num_kv_heads * shape.head_dim;
  if (calculate_scales) {
    KILN_CUDA_CHECK(cudaMemsetAsync(cache.k_scale, 0, sizeof(float), stream));
    KILN_CUDA_CHECK(cudaMemsetAsync(cache.v_scale, 0, sizeof(float), stream));
    launch_with_grid_dependency(kv_absmax_kernel, dim3(num_tokens), dim3(256), 0, stream, k, v, positions,
                                slot_mapping, shape.num_kv_heads, shape.head_dim, cos_sin, kv_stride,
                                reinterpret_cast<unsigned int*>(cache.k_scale),
                                reinterpret_cast<unsigned int*>(cache.v_scale));
    launch_with_grid_dependency(kv_scales_from_absmax_kernel, dim3(1), dim3(1), 0, stream, cache.k_scale,
                                cache.v_scale);
    KILN_CUDA_CHECK_LAUNCH();
  }
  launch_with_grid_dependency(rope_and_cache_kv_kernel<uint8_t>, dim3(num_tokens), dim3(256), 0, stream, q, k, v,
                              positions, slot_mapping, shape.num_heads, shape.num_kv_heads, shape.head_dim, cos_sin,
                              cache.k, cache.v, cache.k_scale, cache.v_scale, cache.saturated, q_stride, kv_stride);
  KILN_CUDA_CHECK_LAUNCH();
}

}  // namespace kiln::cuda
