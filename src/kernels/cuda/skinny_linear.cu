// Skinny GEMM for decode steps: y[m, n] = x[m, k] . w[n, k]^T (+ bias) with m <= 8.
//
// Bound by reading w (2*n*k bytes) once. Each warp owns kRowsPerWarp consecutive rows of w;
// each lane streams 16-byte chunks (8 bf16) of those rows, kUnroll chunks in flight per row
// before the first use, with no-L1-allocate loads since every weight byte is used once per step.
// x is small (m*k*2 bytes, L1/L2-resident) and re-read by every warp through the read-only path.
// Products accumulate in f32 per lane, then a warp shuffle reduction; lane 0 adds the bias and
// rounds to bf16 once.
#include <cuda_bf16.h>

#include "base/check.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/linear.h"

namespace kiln::cuda {
namespace {

constexpr int kWarpSize = 32;
constexpr int kWarpsPerBlock = 8;
constexpr int kRowsPerWarp = 2;
constexpr int kChunkElements = 8;  // one 16-byte load of bf16

__device__ __forceinline__ uint4 load_streaming(const void* address) {
  uint4 value;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0, %1, %2, %3}, [%4];"
               : "=r"(value.x), "=r"(value.y), "=r"(value.z), "=r"(value.w)
               : "l"(address));
  return value;
}

__device__ __forceinline__ float dot8(const uint4& a, const uint4& b) {
  const __nv_bfloat162* a2 = reinterpret_cast<const __nv_bfloat162*>(&a);
  const __nv_bfloat162* b2 = reinterpret_cast<const __nv_bfloat162*>(&b);
  float sum = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 af = __bfloat1622float2(a2[i]);
    const float2 bf = __bfloat1622float2(b2[i]);
    sum = fmaf(af.x, bf.x, sum);
    sum = fmaf(af.y, bf.y, sum);
  }
  return sum;
}

template <int kRows, int kUnroll>
__global__ void __launch_bounds__(kWarpSize * kWarpsPerBlock)
    skinny_linear_kernel(const __nv_bfloat16* __restrict__ x, const __nv_bfloat16* __restrict__ w,
                         const __nv_bfloat16* __restrict__ bias, __nv_bfloat16* __restrict__ y,
                         int n, int k) {
  const int warp = blockIdx.x * kWarpsPerBlock + threadIdx.x / kWarpSize;
  const int lane = threadIdx.x % kWarpSize;
  const int row0 = warp * kRowsPerWarp;
  if (row0 >= n) return;
  const int num_chunks = k / kChunkElements;

  // Rows past n (odd n) re-read the last row; their sums are dropped.
  const uint4* w_rows[kRowsPerWarp];
#pragma unroll
  for (int r = 0; r < kRowsPerWarp; ++r) {
    const int row = min(row0 + r, n - 1);
    w_rows[r] = reinterpret_cast<const uint4*>(w + static_cast<size_t>(row) * k);
  }
  const uint4* x_rows = reinterpret_cast<const uint4*>(x);

  float acc[kRows][kRowsPerWarp] = {};
  for (int base = lane; base < num_chunks; base += kWarpSize * kUnroll) {
    uint4 w_chunks[kUnroll][kRowsPerWarp];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int chunk = base + u * kWarpSize;
#pragma unroll
      for (int r = 0; r < kRowsPerWarp; ++r) {
        w_chunks[u][r] = chunk < num_chunks ? load_streaming(w_rows[r] + chunk) : make_uint4(0, 0, 0, 0);
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const int chunk = base + u * kWarpSize;
      if (chunk >= num_chunks) break;
#pragma unroll
      for (int m = 0; m < kRows; ++m) {
        const uint4 x_chunk = __ldg(x_rows + static_cast<size_t>(m) * num_chunks + chunk);
#pragma unroll
        for (int r = 0; r < kRowsPerWarp; ++r) acc[m][r] += dot8(x_chunk, w_chunks[u][r]);
      }
    }
  }

#pragma unroll
  for (int m = 0; m < kRows; ++m) {
#pragma unroll
    for (int r = 0; r < kRowsPerWarp; ++r) {
      float sum = acc[m][r];
#pragma unroll
      for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
        sum += __shfl_xor_sync(0xffffffffu, sum, offset);
      }
      const int row = row0 + r;
      if (lane == 0 && row < n) {
        if (bias) sum += __bfloat162float(bias[row]);
        y[static_cast<size_t>(m) * n + row] = __float2bfloat16(sum);
      }
    }
  }
}

template <int kRows>
void launch(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
            __nv_bfloat16* y, int n, int k, cudaStream_t stream) {
  // Fewer chunks in flight as m grows keeps the accumulators and chunks in registers.
  constexpr int kUnroll = kRows <= 2 ? 4 : 2;
  const int rows_per_block = kWarpsPerBlock * kRowsPerWarp;
  const int blocks = (n + rows_per_block - 1) / rows_per_block;
  skinny_linear_kernel<kRows, kUnroll>
      <<<blocks, kWarpSize * kWarpsPerBlock, 0, stream>>>(x, w, bias, y, n, k);
  KILN_CUDA_CHECK_LAUNCH();
}

}  // namespace

void skinny_linear(const __nv_bfloat16* x, const __nv_bfloat16* w, const __nv_bfloat16* bias,
                   __nv_bfloat16* y, int m, int n, int k, cudaStream_t stream) {
  KILN_CHECK(m >= 1 && m <= kSkinnyMaxRows) << "skinny_linear takes 1.." << kSkinnyMaxRows << " rows, got " << m;
  KILN_CHECK(k % kChunkElements == 0) << "skinny_linear needs k % 8 == 0, got k=" << k;
  switch (m) {
    case 1: return launch<1>(x, w, bias, y, n, k, stream);
    case 2: return launch<2>(x, w, bias, y, n, k, stream);
    case 3: return launch<3>(x, w, bias, y, n, k, stream);
    case 4: return launch<4>(x, w, bias, y, n, k, stream);
    case 5: return launch<5>(x, w, bias, y, n, k, stream);
    case 6: return launch<6>(x, w, bias, y, n, k, stream);
    case 7: return launch<7>(x, w, bias, y, n, k, stream);
    default: return launch<8>(x, w, bias, y, n, k, stream);
  }
}

}  // namespace kiln::cuda
