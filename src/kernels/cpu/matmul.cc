// y = x . W^T (+ bias) with weights converted to f32 on the fly.
//
// Work is split over W's rows (output columns): each thread owns a contiguous range of them and
// walks it in blocks of kBlockRows, using each block for all m inputs while it sits in cache. For
// m = 1 (decode) that streams every weight row exactly once, which is what the memory-bound case
// wants. Inside a block, register tiles of MT inputs x NT weight rows keep one 8-lane accumulator
// per output element; the tile shape only changes which elements are computed together, never the
// arithmetic of one element, so results are bitwise the same for any m (batch invariance).
#include <algorithm>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/ops.h"

namespace kiln::cpu {
namespace {

constexpr int64_t kBlockRows = 32;

float bias_value(const TensorView& bias, int64_t n) {
  if (bias.empty()) return 0.0f;
  switch (bias.dtype) {
    case DType::kF32:
      return static_cast<const float*>(bias.data)[n];
    case DType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(bias.data)[n]);
    case DType::kF16:
      return f16_to_f32(static_cast<const uint16_t*>(bias.data)[n]);
    default:
      KILN_CHECK(false) << "unsupported bias dtype " << dtype_name(bias.dtype);
  }
  return 0.0f;
}

// One MT x NT register tile: y[i, j] for inputs x[0..MT) and weight rows w[0..NT).
template <typename W, int MT, int NT>
KILN_AVX2 void tile_avx2(const float* x, int64_t k, const typename W::Storage* w, float* y,
                         int64_t ldy, const float* bias) {
  __m256 acc[MT][NT];
#pragma GCC unroll 8
  for (int i = 0; i < MT; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < NT; ++j) acc[i][j] = _mm256_setzero_ps();
  }
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    __m256 xv[MT];
#pragma GCC unroll 8
    for (int i = 0; i < MT; ++i) xv[i] = _mm256_loadu_ps(x + i * k + kk);
#pragma GCC unroll 8
    for (int j = 0; j < NT; ++j) {
      const __m256 wv = W::load(w + j * k + kk);
#pragma GCC unroll 8
      for (int i = 0; i < MT; ++i) acc[i][j] = _mm256_fmadd_ps(xv[i], wv, acc[i][j]);
    }
  }
  for (int i = 0; i < MT; ++i) {
    for (int j = 0; j < NT; ++j) {
      float sum = simd::hsum(acc[i][j]);
      for (int64_t t = kk; t < k; ++t) sum += x[i * k + t] * W::scalar(w[j * k + t]);
      y[i * ldy + j] = sum + bias[j];
    }
  }
}

// Portable version: one output element at a time, 8 interleaved partial sums.
template <typename W>
float dot_scalar(const float* x, const typename W::Storage* w, int64_t k) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int64_t kk = 0;
  for (; kk + 8 <= k; kk += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += x[kk + l] * W::scalar(w[kk + l]);
  }
  float sum = ((lanes[0] + lanes[4]) + (lanes[2] + lanes[6])) +
              ((lanes[1] + lanes[5]) + (lanes[3] + lanes[7]));
  for (; kk < k; ++kk) sum += x[kk] * W::scalar(w[kk]);
  return sum;
}

// Rows [n_begin, n_end) of W against all m inputs, avx2.
template <typename W>
KILN_AVX2 void block_avx2(const float* x, int64_t m, int64_t k, const typename W::Storage* w,
                          const float* bias, int64_t n_begin, int64_t n_end, int64_t ldy,
                          float* y) {
  int64_t i = 0;
  // Four inputs at a time share each converted weight vector.
  for (; i + 4 <= m; i += 4) {
    int64_t j = n_begin;
    for (; j + 2 <= n_end; j += 2) {
      tile_avx2<W, 4, 2>(x + i * k, k, w + j * k, y + i * ldy + j, ldy, bias + j);
    }
    for (; j < n_end; ++j)
      tile_avx2<W, 4, 1>(x + i * k, k, w + j * k, y + i * ldy + j, ldy, bias + j);
  }
  for (; i < m; ++i) {
    int64_t j = n_begin;
    for (; j + 8 <= n_end; j += 8) {
      tile_avx2<W, 1, 8>(x + i * k, k, w + j * k, y + i * ldy + j, ldy, bias + j);
    }
    for (; j < n_end; ++j)
      tile_avx2<W, 1, 1>(x + i * k, k, w + j * k, y + i * ldy + j, ldy, bias + j);
  }
}

template <typename W>
void block_scalar(const float* x, int64_t m, int64_t k, const typename W::Storage* w,
                  const float* bias, int64_t n_begin, int64_t n_end, int64_t ldy, float* y) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = n_begin; j < n_end; ++j) {
      y[i * ldy + j] = dot_scalar<W>(x + i * k, w + j * k, k) + bias[j];
    }
  }
}

template <typename W>
void matmul_typed(const CpuContext& ctx, const float* x, int64_t m, int64_t k, const void* weight,
                  int64_t n, const float* bias, float* y) {
  const auto* w = static_cast<const typename W::Storage*>(weight);
  const bool avx2 = ctx.isa == Isa::kAvx2;
  ctx.pool->parallel_for(
      n,
      [&](int64_t begin, int64_t end) {
        for (int64_t b = begin; b < end; b += kBlockRows) {
          const int64_t block_end = std::min(end, b + kBlockRows);
          if (avx2) {
            block_avx2<W>(x, m, k, w, bias, b, block_end, n, y);
          } else {
            block_scalar<W>(x, m, k, w, bias, b, block_end, n, y);
          }
        }
      },
      m * k);
}

}  // namespace

void matmul(const CpuContext& ctx, const float* x, int m, int k, const TensorView& weight,
            const TensorView& bias, float* y) {
  KILN_CHECK(weight.shape.size() == 2 && weight.dim(1) == k)
      << "matmul: weight " << shape_to_string(weight.shape) << " against k = " << k;
  const int64_t n = weight.dim(0);
  if (m <= 0 || n <= 0) return;
  // The bias is widened once so the tiles add it with one load; n floats is small.
  std::vector<float> bias_f32(static_cast<size_t>(n), 0.0f);
  if (!bias.empty()) {
    KILN_CHECK_EQ(bias.num_elements(), n);
    for (int64_t j = 0; j < n; ++j) bias_f32[static_cast<size_t>(j)] = bias_value(bias, j);
  }
  switch (weight.dtype) {
    case DType::kBF16:
      matmul_typed<simd::Bf16>(ctx, x, m, k, weight.data, n, bias_f32.data(), y);
      break;
    case DType::kF16:
      matmul_typed<simd::F16>(ctx, x, m, k, weight.data, n, bias_f32.data(), y);
      break;
    case DType::kF32:
      matmul_typed<simd::F32>(ctx, x, m, k, weight.data, n, bias_f32.data(), y);
      break;
    default:
      KILN_CHECK(false) << "matmul: unsupported weight dtype " << dtype_name(weight.dtype);
  }
}

}  // namespace kiln::cpu
