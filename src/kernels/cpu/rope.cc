// RoPE on q and k (HF's rotate_half pairing) fused with the paged K/V cache write.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>

#include "base/check.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"

namespace kiln::cpu {
namespace {

// x1 = v[i], x2 = v[i + half]: (x1 cos - x2 sin, x2 cos + x1 sin), as HF's
// q * cos + rotate_half(q) * sin.
void rotate(const float* in, const float* cos, const float* sin, int half, float* out) {
  for (int i = 0; i < half; ++i) {
    const float x1 = in[i];
    const float x2 = in[i + half];
    out[i] = x1 * cos[i] - x2 * sin[i];
    out[i + half] = x2 * cos[i] + x1 * sin[i];
  }
}

}  // namespace

void rope_and_cache_kv(const CpuContext& ctx, float* q, const float* k, const float* v,
                       const int32_t* positions, const int64_t* slot_mapping, int num_tokens,
                       const AttentionShape& shape, const float* cos_sin, int max_position,
                       float* k_cache, float* v_cache) {
  const int hd = shape.head_dim;
  const int half = hd / 2;
  const int64_t q_row = static_cast<int64_t>(shape.num_heads) * hd;
  const int64_t kv_row = static_cast<int64_t>(shape.num_kv_heads) * hd;
  ctx.pool->parallel_for(
      num_tokens,
      [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          const int pos = positions[t];
          KILN_CHECK(pos >= 0 && pos < max_position)
              << "rope: position " << pos << " outside the table of " << max_position;
          const float* cos = cos_sin + static_cast<int64_t>(pos) * hd;
          const float* sin = cos + half;
          float tmp[1024];
          KILN_CHECK_LE(hd, 1024);
          for (int h = 0; h < shape.num_heads; ++h) {
            float* qh = q + t * q_row + h * hd;
            rotate(qh, cos, sin, half, tmp);
            std::memcpy(qh, tmp, sizeof(float) * static_cast<size_t>(hd));
          }
          const int64_t slot = slot_mapping[t];
          if (slot < 0) continue;
          for (int h = 0; h < shape.num_kv_heads; ++h) {
            rotate(k + t * kv_row + h * hd, cos, sin, half, k_cache + slot * kv_row + h * hd);
          }
          std::memcpy(v_cache + slot * kv_row, v + t * kv_row,
                      sizeof(float) * static_cast<size_t>(kv_row));
        }
      },
      (q_row + kv_row) * 2);
}

namespace {

// code = fp8(x / scale); true when |x / scale| is beyond what E4M3 holds (the code saturated).
bool quantize_row(const float* x, int n, float scale, uint8_t* out) {
  bool saturated = false;
  for (int i = 0; i < n; ++i) {
    const float scaled = x[i] / scale;
    saturated = saturated || std::fabs(scaled) > kFp8E4M3Max;
    out[i] = f32_to_fp8_e4m3(scaled);
  }
  return saturated;
}

}  // namespace

void rope_and_cache_kv(const CpuContext& ctx, float* q, const float* k, const float* v, const int32_t* positions,
                       const int64_t* slot_mapping, int num_tokens, const AttentionShape& shape, const float* cos_sin,
                       int max_position, const Fp8KvCacheLayer& cache, bool calculate_scales) {
  const int hd = shape.head_dim;
  const int half = hd / 2;
  const int64_t q_row = static_cast<int64_t>(shape.num_heads) * hd;
  const int64_t kv_row = static_cast<int64_t>(shape.num_kv_heads) * hd;
  KILN_CHECK_LE(hd, 1024);
  auto cos_of = [&](int64_t t) {
    const int pos = positions[t];
    KILN_CHECK(pos >= 0 && pos < max_position) << "rope: position " << pos << " outside the table of " << max_position;
    return cos_sin + static_cast<int64_t>(pos) * hd;
  };
  if (calculate_scales) {
    // The largest magnitudes of the keys as written (rotated) and of the values, over the
    // tokens that have a slot.
    float k_max = 0.0f, v_max = 0.0f;
    float rotated[1024];
    for (int64_t t = 0; t < num_tokens; ++t) {
      if (slot_mapping[t] < 0) continue;
      const float* cos = cos_of(t);
      for (int h = 0; h < shape.num_kv_heads; ++h) {
        rotate(k + t * kv_row + h * hd, cos, cos + half, half, rotated);
        for (int i = 0; i < hd; ++i) k_max = std::max(k_max, std::fabs(rotated[i]));
      }
      for (int64_t i = 0; i < kv_row; ++i) v_max = std::max(v_max, std::fabs(v[t * kv_row + i]));
    }
    *cache.k_scale = k_max > 0.0f ? k_max / kKvScaleKRange : 1.0f;
    *cache.v_scale = v_max > 0.0f ? v_max / kKvScaleVRange : 1.0f;
  }
  const float k_scale = *cache.k_scale, v_scale = *cache.v_scale;
  std::atomic<bool> saturated{false};
  ctx.pool->parallel_for(
      num_tokens,
      [&](int64_t begin, int64_t end) {
        float rotated[1024];
        bool clipped = false;
        for (int64_t t = begin; t < end; ++t) {
          const float* cos = cos_of(t);
          for (int h = 0; h < shape.num_heads; ++h) {
            float* qh = q + t * q_row + h * hd;
            rotate(qh, cos, cos + half, half, rotated);
            std::memcpy(qh, rotated, sizeof(float) * static_cast<size_t>(hd));
          }
          const int64_t slot = slot_mapping[t];
          if (slot < 0) continue;
          for (int h = 0; h < shape.num_kv_heads; ++h) {
            rotate(k + t * kv_row + h * hd, cos, cos + half, half, rotated);
            clipped |= quantize_row(rotated, hd, k_scale, cache.k + slot * kv_row + h * hd);
          }
          clipped |= quantize_row(v + t * kv_row, static_cast<int>(kv_row), v_scale, cache.v + slot * kv_row);
        }
        if (clipped) saturated = true;
      },
      (q_row + kv_row) * 2);
  if (saturated && cache.saturated != nullptr) *cache.saturated = 1;
}

}  // namespace kiln::cpu
