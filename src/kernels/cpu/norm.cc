// RMSNorm as HF's LlamaRMSNorm computes it in f32, plain and fused with the residual add.
#include <cmath>

#include "base/check.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/ops.h"

namespace kiln::cpu {
namespace {

float weight_at(const TensorView& weight, int i) {
  switch (weight.dtype) {
    case DType::kF32:
      return static_cast<const float*>(weight.data)[i];
    case DType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(weight.data)[i]);
    case DType::kF16:
      return f16_to_f32(static_cast<const uint16_t*>(weight.data)[i]);
    default:
      KILN_CHECK(false) << "rms_norm: unsupported weight dtype " << dtype_name(weight.dtype);
  }
  return 0.0f;
}

KILN_AVX2 float sum_squares_avx2(const float* x, int n) { return simd::dot(x, x, n); }

float sum_squares_scalar(const float* x, int n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += x[i + l] * x[i + l];
  }
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  for (; i < n; ++i) sum += x[i] * x[i];
  return sum;
}

// out = (x * inv_rms) * weight, in HF's order of operations.
void normalize_row(const float* x, const float* weight, int hidden, float eps, bool avx2,
                   float* out) {
  const float sum = avx2 ? sum_squares_avx2(x, hidden) : sum_squares_scalar(x, hidden);
  const float inv_rms = 1.0f / std::sqrt(sum / static_cast<float>(hidden) + eps);
  for (int i = 0; i < hidden; ++i) out[i] = weight[i] * (x[i] * inv_rms);
}

std::vector<float> widen(const TensorView& weight, int hidden) {
  KILN_CHECK_EQ(weight.num_elements(), hidden);
  std::vector<float> w(static_cast<size_t>(hidden));
  for (int i = 0; i < hidden; ++i) w[static_cast<size_t>(i)] = weight_at(weight, i);
  return w;
}

}  // namespace

void rms_norm(const CpuContext& ctx, const float* x, const TensorView& weight, int num_rows,
              int hidden, float eps, float* out) {
  const std::vector<float> w = widen(weight, hidden);
  const bool avx2 = ctx.isa == Isa::kAvx2;
  ctx.pool->parallel_for(
      num_rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          normalize_row(x + r * hidden, w.data(), hidden, eps, avx2, out + r * hidden);
        }
      },
      static_cast<int64_t>(hidden) * 2);
}

void add_rms_norm(const CpuContext& ctx, float* residual, const float* x, const TensorView& weight,
                  int num_rows, int hidden, float eps, float* out) {
  const std::vector<float> w = widen(weight, hidden);
  const bool avx2 = ctx.isa == Isa::kAvx2;
  ctx.pool->parallel_for(
      num_rows,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          float* res = residual + r * hidden;
          const float* add = x + r * hidden;
          for (int i = 0; i < hidden; ++i) res[i] += add[i];
          normalize_row(res, w.data(), hidden, eps, avx2, out + r * hidden);
        }
      },
      static_cast<int64_t>(hidden) * 3);
}

}  // namespace kiln::cpu
