// Skinny FP8 GEMM for decode steps: y[m, n] = x[m, k] . W^T with W FP8 codes and m <= 16, the
// activations quantized inside the kernel (kernels/fp8_linear.h's rule).
//
// The layout of skinny_linear.cu (bench/cuda/NOTES.md: ~95% of copy bandwidth at m = 1): a block
// of 256 threads owns kRows weight rows and splits k across its threads, thread t reading the
// 16-byte chunks t, t + 256, ... of each row (16 codes a chunk, so a 4096-wide row is one chunk
// per thread: half the bytes of the bf16 kernel, the whole row requested at once); the first
// chunks are requested before the programmatic-launch wait. Rows past n re-read the last row.
//
// Activation quantization costs no extra pass over memory: the block's threads read all of x's
// row between them anyway, so per token each thread takes the absmax of its chunks, one
// shared-memory reduction gives the row's scale, and each thread quantizes its chunks as it
// multiplies them. Per token and 128 columns (the block format), a group's 8 chunks belong to 8
// consecutive lanes, so three shuffles give its scale. Products of codes accumulate in f32 per
// thread, then a warp shuffle and a fixed-order sum over warps: a row's result does not depend on
// m or on the other rows (batch invariance, and the SwiGLU variant gives the unfused bits).
// Per-channel scales multiply the row's sum once; block scales multiply each chunk's partial sum.
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
constexpr int kChunk = 16;  // codes per 16-byte load
constexpr int kRows = 4;    // weight rows per block (2 gate + 2 up rows with SwiGLU)

__device__ __forceinline__ uint4 load_streaming(const void* address) {
  uint4 value;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(value.x), "=r"(value.y), "=r"(value.z), "=r"(value.w)
               : "l"(address));
  return value;
}

// The 16 bf16 values of x's chunk c in row `row` (two 16-byte loads through the read-only path).
__device__ __forceinline__ void load_x(const __nv_bfloat16* x, int row, int k, int c, float* out) {
  const uint4* base = reinterpret_cast<const uint4*>(x + static_cast<size_t>(row) * k) + 2 * c;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const uint4 chunk = __ldg(base + half);
    const __nv_bfloat162* pairs = reinterpret_cast<const __nv_bfloat162*>(&chunk);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __bfloat1622float2(pairs[i]);
      out[8 * half + 2 * i] = f.x;
      out[8 * half + 2 * i + 1] = f.y;
    }
  }
}

__device__ __forceinline__ void unpack_codes(const uint4& chunk, float* out) {
  const uint16_t* pairs = reinterpret_cast<const uint16_t*>(&chunk);
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const float2 f = fp8x2_to_float2(pairs[i]);
    out[2 * i] = f.x;
    out[2 * i + 1] = f.y;
  }
}

__device__ __forceinline__ float absmax16(const float* v) {
  float a = 0.0f;
#pragma unroll
  for (int i = 0; i < kChunk; ++i) a = fmaxf(a, fabsf(v[i]));
  return a;
}

__device__ __forceinline__ float dot16(const float* a, const float* b) {
  float sum = 0.0f;
#pragma unroll
  for (int e = 0; e < kChunk; ++e) sum = fmaf(a[e], b[e], sum);
  return sum;
}

// Per-channel weights sum raw code products (scaled once per row at the end); block weights
// scale each chunk's partial sum by its group's and block's scales.
template <bool kBlocks>
__device__ __forceinline__ void accumulate(float partial, float chunk_scale, float* acc) {
  if constexpr (kBlocks) {
    *acc = fmaf(partial, chunk_scale, *acc);
  } else {
    *acc += partial;
  }
}

// x's chunk c of `row`, quantized as `quant` says (codes' values; left as they are for kNone);
// returns the scale a block-scaled product applies to it (the group's, else 1). Every lane of the
// warp must call it: per-group scales come from shuffles over 8 lanes.
__device__ __forceinline__ float load_quantized_x(const __nv_bfloat16* x, int row, int k, int c, bool active,
                                                  Fp8ActivationQuant quant, float row_scale, float* values) {
  if (active) {
    load_x(x, row, k, c, values);
  } else {
#pragma unroll
    for (int e = 0; e < kChunk; ++e) values[e] = 0.0f;
  }
  if (quant == Fp8ActivationQuant::kNone) return 1.0f;
  float scale = row_scale;
  if (quant == Fp8ActivationQuant::kDynamicPerTokenGroup) {
    // A group's 8 chunks are lanes 8j..8j+7 of one warp (chunk = base + tid, base % 256 == 0).
    float absmax = absmax16(values);
    absmax = fmaxf(absmax, __shfl_xor_sync(0xffffffffu, absmax, 1));
    absmax = fmaxf(absmax, __shfl_xor_sync(0xffffffffu, absmax, 2));
    absmax = fmaxf(absmax, __shfl_xor_sync(0xffffffffu, absmax, 4));
    scale = fp8_scale_for_absmax_device(absmax);
  }
#pragma unroll
  for (int e = 0; e < kChunk; ++e) values[e] = fp8_to_float(fp8_quantize_device(values[e], scale));
  return quant == Fp8ActivationQuant::kDynamicPerTokenGroup ? scale : 1.0f;
}

// kM: rows of x the kernel is built for (m <= kM; rows past m re-read row m - 1 and are
// dropped). kBlocks: 128 x 128 weight scales. kSiluMul: w is [gate; up] (2n rows), y = SwiGLU.
// Resident blocks per SM asked of the register allocator: 3 up to 2 rows, 2 up to 4, else 1.
constexpr int min_blocks_per_sm(int m) { return m <= 2 ? 3 : (m <= 4 ? 2 : 1); }

template <int kM, bool kBlocks, bool kSiluMul>
__global__ void __launch_bounds__(kThreads, min_blocks_per_sm(kM))
    fp8_skinny_kernel(const __nv_bfloat16* __restrict__ x, int m, const uint8_t* __restrict__ w,
                      const float* __restrict__ w_scale, const float* __restrict__ input_scale,
                      Fp8ActivationQuant quant, const __nv_bfloat16* __restrict__ bias, __nv_bfloat16* __restrict__ y,
                      int n, int k) {
  constexpr int kOutputs = kSiluMul ? kRows / 2 : kRows;
  const int row0 = blockIdx.x * kOutputs;
  const int num_chunks = k / kChunk;
  const int k_blocks = (k + kFp8GroupSize - 1) / kFp8GroupSize;
  const int tid = threadIdx.x, warp = tid / 32, lane = tid % 32;
  const bool quantized = quant != Fp8ActivationQuant::kNone;

  int rows[kRows];
  const uint4* w_rows[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) {
    const int output_row = min(row0 + r % kOutputs, n - 1);
    rows[r] = kSiluMul && r >= kOutputs ? n + output_row : output_row;
    w_rows[r] = reinterpret_cast<const uint4*>(w + static_cast<size_t>(rows[r]) * k);
  }
  // Weights and their scales never depend on the previous kernel: request them before waiting.
  uint4 w_chunk[kRows];
#pragma unroll
  for (int r = 0; r < kRows; ++r) w_chunk[r] = tid < num_chunks ? load_streaming(w_rows[r] + tid) : make_uint4(0, 0, 0, 0);
  const float static_scale = quant == Fp8ActivationQuant::kStaticPerTensor ? *input_scale : 1.0f;
  grid_dependency_wait();
  grid_dependency_launch_dependents();

  __shared__ float s_row_scale[kM];
  __shared__ float s_partial[kWarps][kM * kRows];
  if (quant == Fp8ActivationQuant::kDynamicPerToken) {
    __shared__ float s_absmax[kWarps][kM];
    float absmax[kM];
#pragma unroll
    for (int i = 0; i < kM; ++i) absmax[i] = 0.0f;
    for (int c = tid; c < num_chunks; c += kThreads) {
#pragma unroll
      for (int i = 0; i < kM; ++i) {
        float values[kChunk];
        load_x(x, min(i, m - 1), k, c, values);
        absmax[i] = fmaxf(absmax[i], absmax16(values));
      }
    }
#pragma unroll
    for (int i = 0; i < kM; ++i) {
      const float value = warp_max(absmax[i]);
      if (lane == 0) s_absmax[warp][i] = value;
    }
    __syncthreads();
    if (tid < kM) {
      float value = s_absmax[0][tid];
#pragma unroll
      for (int v = 1; v < kWarps; ++v) value = fmaxf(value, s_absmax[v][tid]);
      s_row_scale[tid] = fp8_scale_for_absmax_device(value);
    }
  } else if (tid < kM) {
    s_row_scale[tid] = static_scale;  // 1 for weight-only and per-group (scaled per chunk)
  }
  __syncthreads();

  float acc[kM][kRows];
#pragma unroll
  for (int i = 0; i < kM; ++i) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) acc[i][r] = 0.0f;
  }
  // Every thread runs every iteration (inactive chunks count zero) so that the per-group
  // shuffles always have their 8 lanes.
  for (int base = 0; base < num_chunks; base += kThreads) {
    const int c = base + tid;
    const bool active = c < num_chunks;
    if (base != 0) {
#pragma unroll
      for (int r = 0; r < kRows; ++r) w_chunk[r] = active ? load_streaming(w_rows[r] + c) : make_uint4(0, 0, 0, 0);
    }
    float block_scale[kRows];
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      block_scale[r] =
          kBlocks && active ? __ldg(w_scale + (rows[r] / kFp8GroupSize) * k_blocks + (c * kChunk) / kFp8GroupSize) : 1.0f;
    }
    // Register budget: with few x rows, each row's quantized chunk stays in registers and each
    // weight row is widened once; with many, the weight rows are widened once and x's rows
    // stream through.
    if constexpr (kM <= 4) {
      float x_values[kM][kChunk];
      float group_scale[kM];
#pragma unroll
      for (int i = 0; i < kM; ++i) {
        group_scale[i] = load_quantized_x(x, min(i, m - 1), k, c, active, quant, s_row_scale[i], x_values[i]);
      }
#pragma unroll
      for (int r = 0; r < kRows; ++r) {
        float w_values[kChunk];
        unpack_codes(w_chunk[r], w_values);
#pragma unroll
        for (int i = 0; i < kM; ++i) {
          accumulate<kBlocks>(dot16(x_values[i], w_values), group_scale[i] * block_scale[r], &acc[i][r]);
        }
      }
    } else {
      float w_values[kRows][kChunk];
#pragma unroll
      for (int r = 0; r < kRows; ++r) unpack_codes(w_chunk[r], w_values[r]);
#pragma unroll
      for (int i = 0; i < kM; ++i) {
        float x_values[kChunk];
        const float group_scale = load_quantized_x(x, min(i, m - 1), k, c, active, quant, s_row_scale[i], x_values);
#pragma unroll
        for (int r = 0; r < kRows; ++r) {
          accumulate<kBlocks>(dot16(x_values, w_values[r]), group_scale * block_scale[r], &acc[i][r]);
        }
      }
    }
  }

#pragma unroll
  for (int i = 0; i < kM; ++i) {
#pragma unroll
    for (int r = 0; r < kRows; ++r) {
      const float sum = warp_sum(acc[i][r]);
      if (lane == 0) s_partial[warp][i * kRows + r] = sum;
    }
  }
  __syncthreads();
  // The row's value: the block's sum (fixed order over warps), scaled per token and channel.
  const auto value = [&](int i, int r) {
    float sum = 0.0f;
#pragma unroll
    for (int v = 0; v < kWarps; ++v) sum += s_partial[v][i * kRows + r];
    if constexpr (!kBlocks) {
      if (quantized) sum *= s_row_scale[i];
      const int weight_row = kSiluMul && r >= kOutputs ? n + min(row0 + r - kOutputs, n - 1) : min(row0 + r, n - 1);
      sum *= __ldg(w_scale + weight_row);
    }
    return sum;
  };
  for (int o = tid; o < kM * kOutputs; o += kThreads) {
    const int i = o / kOutputs, r = o % kOutputs;
    const int row = row0 + r;
    if (i >= m || row >= n) continue;
    if constexpr (kSiluMul) {
      const float gate = __bfloat162float(__float2bfloat16(value(i, r)));
      const float up = __bfloat162float(__float2bfloat16(value(i, kOutputs + r)));
      const float activated = __bfloat162float(__float2bfloat16(gate / (1.0f + __expf(-gate))));
      y[static_cast<size_t>(i) * n + row] = __float2bfloat16(activated * up);
    } else {
      float sum = value(i, r);
      if (bias) sum += __bfloat162float(bias[row]);
      y[static_cast<size_t>(i) * n + row] = __float2bfloat16(sum);
    }
  }
}

template <int kM, bool kSiluMul>
void launch(const __nv_bfloat16* x, int m, const Fp8Weight& w, const __nv_bfloat16* bias, __nv_bfloat16* y, int n,
            cudaStream_t stream) {
  constexpr int kOutputs = kSiluMul ? kRows / 2 : kRows;
  const dim3 grid((n + kOutputs - 1) / kOutputs);
  if (w.weight_scaling == Fp8WeightScaling::kBlock) {
    launch_with_grid_dependency(fp8_skinny_kernel<kM, true, kSiluMul>, grid, dim3(kThreads), 0, stream, x, m,
                                w.weight, w.weight_scale, w.input_scale, w.activation, bias, y, n, w.k);
  } else {
    launch_with_grid_dependency(fp8_skinny_kernel<kM, false, kSiluMul>, grid, dim3(kThreads), 0, stream, x, m,
                                w.weight, w.weight_scale, w.input_scale, w.activation, bias, y, n, w.k);
  }
}

// The smallest built kM that holds m rows.
template <bool kSiluMul>
void dispatch(const __nv_bfloat16* x, int m, const Fp8Weight& w, const __nv_bfloat16* bias, __nv_bfloat16* y, int n,
              cudaStream_t stream) {
  if (m <= 1) return launch<1, kSiluMul>(x, m, w, bias, y, n, stream);
  if (m <= 2) return launch<2, kSiluMul>(x, m, w, bias, y, n, stream);
  if (m <= 3) return launch<3, kSiluMul>(x, m, w, bias, y, n, stream);
  if (m <= 4) return launch<4, kSiluMul>(x, m, w, bias, y, n, stream);
  if (m <= 6) return launch<6, kSiluMul>(x, m, w, bias, y, n, stream);
  if (m <= 8) return launch<8, kSiluMul>(x, m, w, bias, y, n, stream);
  if (m <= 12) return launch<12, kSiluMul>(x, m, w, bias, y, n, stream);
  return launch<16, kSiluMul>(x, m, w, bias, y, n, stream);
}

void check_arguments(const char* what, int m, const Fp8Weight& w) {
  KILN_CHECK(m >= 1 && m <= kFp8SkinnyMaxRows) << what << " takes 1.." << kFp8SkinnyMaxRows << " rows, got " << m;
  KILN_CHECK(w.k % kChunk == 0) << what << " needs k % 16 == 0, got k=" << w.k;
  KILN_CHECK(w.activation != Fp8ActivationQuant::kStaticPerTensor || w.input_scale != nullptr)
      << what << ": static activations need input_scale";
  const bool blocks = w.weight_scaling == Fp8WeightScaling::kBlock;
  const bool per_group = w.activation == Fp8ActivationQuant::kDynamicPerTokenGroup;
  KILN_CHECK(per_group ? blocks : (!blocks || w.activation == Fp8ActivationQuant::kNone))
      << what << ": block weights take per-token-group activations or none, and per-group activations need blocks";
}

}  // namespace

void fp8_skinny_linear(const __nv_bfloat16* x, int m, const Fp8Weight& w, const __nv_bfloat16* bias,
                       __nv_bfloat16* y, cudaStream_t stream) {
  check_arguments("fp8_skinny_linear", m, w);
  dispatch<false>(x, m, w, bias, y, w.n, stream);
}

void fp8_skinny_linear_silu_mul(const __nv_bfloat16* x, int m, const Fp8Weight& gate_up, __nv_bfloat16* y,
                                cudaStream_t stream) {
  check_arguments("fp8_skinny_linear_silu_mul", m, gate_up);
  KILN_CHECK(gate_up.n % 2 == 0) << "fp8_skinny_linear_silu_mul: odd gate|up rows " << gate_up.n;
  dispatch<true>(x, m, gate_up, nullptr, y, gate_up.n / 2, stream);
}

}  // namespace kiln::cuda
