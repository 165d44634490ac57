// Skinny GEMM for decode steps: y[m, n] = x[m, k] . w[n, k]^T (+ bias) with m <= 8.
//
// Bound by reading w (2*n*k bytes) once. A block of 256 threads owns kRowsPerBlock consecutive
// rows of w and splits k across all its threads: thread t reads the 16-byte chunks t, t + 256,
// ... of each of its rows, kUnroll chunks per row in flight, with no-L1-allocate loads since
// every weight byte is used once per step. For the 4096-wide matrices (512 chunks per row) a
// thread issues all its loads at once, and n / kRowsPerBlock blocks (1024 for o_proj) keep
// every SM streaming; the first version (one warp per 2 rows, 4 iterations per warp) reached
// only 44-58% of copy bandwidth on them, bound by its ramp and tail.
//
// x is small (m*k*2 bytes, L1/L2-resident) and re-read through the read-only path, once per
// chunk for all kRowsPerBlock rows. Products accumulate in f32 per thread, then a warp shuffle
// reduction and a fixed-order sum over the block's warps: a row's sum does not depend on m or
// on the other rows, so batches stay invariant.
#include <cuda_bf16.h>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/grid_dependency.cuh"
#include "kernels/cuda/linear.h"

namespace kiln::cuda {
namespace {

constexpr int kWarpSize = 32;
constexpr int kThreads = 256;
constexpr int kWarps = kThreads / kWarpSize;
constexpr int kChunkElements = 8;  // one 16-byte load of bf16

__device__ __forceinline__ uint4 load_streaming(const void* address) {
  uint4 value;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(value.x), "=r"(value.y), "=r"(value.z), "=r"(value.w)
               : "l"(address));
  return value;
}

__device__ __forceinline__ float dot8(const uint4& a, const uint4& b, float sum) {
  const __nv_bfloat162* a2 = reinterpret_cast<const __nv_bfloat162*>(&a);
  const __nv_bfloat162* b2 = reinterpret_cast<const __nv_bfloat162*>(&b);
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 af = __bfloat1622float2(a2[i]);
    const float2 bf = __bfloat1622float2(b2[i]);
    sum = fmaf(af.x, bf.x, sum);
    sum = fmaf(af.y, bf.y, sum);
  }
  return sum;
}

// kSiluMul: w is [gate; up] with 2n rows and y = silu(x.gate^T) * (x.up^T), [m, n]; the block's
// first kRowsPerBlock / 2 rows are gate rows and the rest the matching up rows, and the epilogue
// rounds as the separate GEMV + silu_and_mul do, so both paths give the same bits.
template <int kM, int kRowsPerBlock, int kUnroll, bool kSiluMul = false>
__global__ void __launch_bounds__(kThreads)
    skinny_linear_kernel(const __nv_bfloat16* __restrict__ x, const __nv_bfloat16* __restrict__ w,
                         const __nv_bfloat16* __restrict__ bias, __nv_bfloat16* __restrict__ y,
                         int n, int k) {
  constexpr int kOutputsPerBlock = kSiluMul ? kRowsPerBlock / 2 : kRowsPerBlock;
  const int row0 = blockIdx.x * kOutputsPerBlock;
  const int num_chunks = k / kChunkElements;
  const int tid = threadIdx.x;

  // Rows past n re-read the last row; their sums are dropped.
  const uint4* w_rows[kRowsPerBlock];
#pragma unroll
  for (int r = 0; r < kRowsPerBlock; ++r) {
    const int output_row = min(row0 + r % kOutputsPerBlock, n - 1);
    const int row = kSiluMul && r >= kOutputsPerBlock ? n + output_row : output_row;
    w_rows[r] = reinterpret_cast<const uint4*>(w + static_cast<size_t>(row) * k);
  }
  const uint4* x_rows = reinterpret_cast<const uint4*>(x);

  uint4 w_chunks[kUnroll][kRowsPerBlock];
  auto load_chunks = [&](int base) {
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int chunk = base + u * kThreads;
#pragma unroll
      for (int r = 0; r < kRowsPerBlock; ++r) {
        w_chunks[u][r] = chunk < num_chunks ? load_streaming(w_rows[r] + chunk) : make_uint4(0, 0, 0, 0);
      }
    }
  };
  // The weights never depend on the previous kernel: request them before waiting for it.
  load_chunks(tid);
  grid_dependency_wait();
  grid_dependency_launch_dependents();

  float acc[kM][kRowsPerBlock] = {};
  for (int base = tid; base < num_chunks; base += kThreads * kUnroll) {
    if (base != tid) load_chunks(base);
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int chunk = base + u * kThreads;
      if (chunk >= num_chunks) break;
#pragma unroll
      for (int m = 0; m < kM; ++m) {
        const uint4 x_chunk = __ldg(x_rows + static_cast<size_t>(m) * num_chunks + chunk);
#pragma unroll
        for (int r = 0; r < kRowsPerBlock; ++r) acc[m][r] = dot8(x_chunk, w_chunks[u][r], acc[m][r]);
      }
    }
  }

  __shared__ float partial[kWarps][kM * kRowsPerBlock];
  const int warp = tid / kWarpSize;
  const int lane = tid % kWarpSize;
#pragma unroll
  for (int m = 0; m < kM; ++m) {
#pragma unroll
    for (int r = 0; r < kRowsPerBlock; ++r) {
      float sum = acc[m][r];
#pragma unroll
      for (int offset = kWarpSize / 2; offset > 0; offset /= 2) sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      if (lane == 0) partial[warp][m * kRowsPerBlock + r] = sum;
    }
  }
  __syncthreads();
  auto block_sum = [&](int index) {
    float sum = 0.0f;
#pragma unroll
    for (int v = 0; v < kWarps; ++v) sum += partial[v][index];
    return sum;
  };
  for (int i = tid; i < kM * kOutputsPerBlock; i += kThreads) {
    const int m = i / kOutputsPerBlock, r = i % kOutputsPerBlock;
    const int row = row0 + r;
    if (row >= n) continue;
    if constexpr (kSiluMul) {
      const float gate = __bfloat162float(__float2bfloat16(block_sum(m * kRowsPerBlock + r)));
      const float up = __bfloat162float(__float2bfloat16(block_sum(m * kRowsPerBlock + kOutputsPerBlock + r)));
      const float activated = __bfloat162float(__float2bfloat16(gate / (1.0f + __expf(-gate))));
      y[static_cast<size_t>(m) * n + row] = __float2bfloat16(activated * up);
    } else {
      float sum = block_sum(m * kRowsPerBlock + r);
      if (bias) sum += __bfloat162float(bias[row]);
      y[static_cast<size_t>(m) * n + row] = __float2bfloat16(sum);
    }
  }
}

template <int kM, int kRowsPerBlock, int kUnroll, bool kSiluMul = false>
void launch(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias, __nv_bfloat16* y, int n,
            int k, cudaStream_t stream) {
  constexpr int kOutputsPerBlock = kSiluMul ? kRowsPerBlock / 2 : kRowsPerBlock;
  const int blocks = (n + kOutputsPerBlock - 1) / kOutputsPerBlock;
  launch_with_grid_dependency(skinny_linear_kernel<kM, kRowsPerBlock, kUnroll, kSiluMul>, dim3(blocks),
                              dim3(kThreads), 0, stream, x, w, bias, y, n, k);
}

// The production tiling (bench/cuda/NOTES.md, H200): 4 rows, one chunk per row in flight per
// thread, was the fastest or within 2% of it on every 8B shape at m = 1 and m = 8.
template <int kM>
void launch_default(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias, __nv_bfloat16* y,
                    int n, int k, cudaStream_t stream) {
  launch<kM, 4, 1>(x, w, bias, y, n, k, stream);
}

template <int kM>
bool launch_variant(int rows_per_block, int unroll, const __nv_bfloat16* x, const __nv_bfloat16* w,
                    __nv_bfloat16* y, int n, int k, cudaStream_t stream) {
  if (rows_per_block == 2 && unroll == 4) return launch<kM, 2, 4>(x, w, nullptr, y, n, k, stream), true;
  if (rows_per_block == 4 && unroll == 1) return launch<kM, 4, 1>(x, w, nullptr, y, n, k, stream), true;
  if (rows_per_block == 4 && unroll == 2) return launch<kM, 4, 2>(x, w, nullptr, y, n, k, stream), true;
  if (rows_per_block == 8 && unroll == 1) return launch<kM, 8, 1>(x, w, nullptr, y, n, k, stream), true;
  if (rows_per_block == 8 && unroll == 2) return launch<kM, 8, 2>(x, w, nullptr, y, n, k, stream), true;
  return false;
}

}  // namespace

void skinny_linear(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
                   __nv_bfloat16* y, int m, int n, int k, cudaStream_t stream) {
  KILN_CHECK(m >= 1 && m <= kSkinnyMaxRows) << "skinny_linear takes 1.." << kSkinnyMaxRows << " rows, got " << m;
  KILN_CHECK(k % kChunkElements == 0) << "skinny_linear needs k % 8 == 0, got k=" << k;
  switch (m) {
    case 1: return launch_default<1>(x, w, bias, y, n, k, stream);
    case 2: return launch_default<2>(x, w, bias, y, n, k, stream);
    case 3: return launch_default<3>(x, w, bias, y, n, k, stream);
    case 4: return launch_default<4>(x, w, bias, y, n, k, stream);
    case 5: return launch_default<5>(x, w, bias, y, n, k, stream);
    case 6: return launch_default<6>(x, w, bias, y, n, k, stream);
    case 7: return launch_default<7>(x, w, bias, y, n, k, stream);
    default: return launch_default<8>(x, w, bias, y, n, k, stream);
  }
}

void skinny_linear_silu_mul(const __nv_bfloat16* x, const __nv_bfloat16* gate_up, __nv_bfloat16* y, int m, int n,
                            int k, cudaStream_t stream) {
  KILN_CHECK(m >= 1 && m <= kSkinnyMaxRows) << "skinny_linear_silu_mul takes 1.." << kSkinnyMaxRows << " rows, got " << m;
  KILN_CHECK(k % kChunkElements == 0) << "skinny_linear_silu_mul needs k % 8 == 0, got k=" << k;
  switch (m) {
    case 1: return launch<1, 4, 1, true>(x, gate_up, nullptr, y, n, k, stream);
    case 2: return launch<2, 4, 1, true>(x, gate_up, nullptr, y, n, k, stream);
    case 3: return launch<3, 4, 1, true>(x, gate_up, nullptr, y, n, k, stream);
    case 4: return launch<4, 4, 1, true>(x, gate_up, nullptr, y, n, k, stream);
    case 5: return launch<5, 4, 1, true>(x, gate_up, nullptr, y, n, k, stream);
    case 6: return launch<6, 4, 1, true>(x, gate_up, nullptr, y, n, k, stream);
    case 7: return launch<7, 4, 1, true>(x, gate_up, nullptr, y, n, k, stream);
    default: return launch<8, 4, 1, true>(x, gate_up, nullptr, y, n, k, stream);
  }
}

bool skinny_linear_variant(const __nv_bfloat16* x, const __nv_bfloat16* w, __nv_bfloat16* y, int m, int n, int k,
                           int rows_per_block, int unroll, cudaStream_t stream) {
  KILN_CHECK(k % kChunkElements == 0) << "skinny_linear needs k % 8 == 0, got k=" << k;
  switch (m) {
    case 1: return launch_variant<1>(rows_per_block, unroll, x, w, y, n, k, stream);
    case 2: return launch_variant<2>(rows_per_block, unroll, x, w, y, n, k, stream);
    case 4: return launch_variant<4>(rows_per_block, unroll, x, w, y, n, k, stream);
    case 8: return launch_variant<8>(rows_per_block, unroll, x, w, y, n, k, stream);
    default: return false;
  }
}

}  // namespace kiln::cuda
