// SwiGLU's elementwise half: silu(gate) * up, silu(x) = x / (1 + exp(-x)) as torch computes it.
#include <cmath>

#include "kernels/cpu/thread_pool.h"
#include "kernels/ops.h"

namespace kiln::cpu {

void silu_and_mul(const CpuContext& ctx, const float* gate, const float* up, int m, int inter,
                  int stride, float* out) {
  ctx.pool->parallel_for(
      m,
      [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const float* g = gate + r * stride;
          const float* u = up + r * stride;
          float* o = out + r * inter;
          for (int i = 0; i < inter; ++i) o[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
        }
      },
      static_cast<int64_t>(inter) * 8);
}

}  // namespace kiln::cpu
