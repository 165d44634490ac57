// RoPE on q and k (HF's rotate_half pairing) fused with the paged K/V cache write.
#include <cstring>

#include "base/check.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/ops.h"

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

}  // namespace kiln::cpu
