// Embedding gather: one table row per token, widened to f32 (or zeros, for a vocab-parallel
// rank's tokens it does not hold).
#include "base/check.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/ops.h"

namespace kiln::cpu {

namespace {

// Rows [vocab_begin, vocab_begin + table rows) of the vocabulary; with `shard`, ids of other rows
// give zeros, else they are a broken invariant (the engine validates ids before a step).
void gather_rows(const CpuContext& ctx, const TensorView& table, int64_t vocab_begin, bool shard,
                 const int32_t* token_ids, int num_tokens, float* out) {
  KILN_CHECK(table.shape.size() == 2) << "embedding: table " << shape_to_string(table.shape);
  const int64_t vocab = table.dim(0);
  const int64_t hidden = table.dim(1);
  ctx.pool->parallel_for(
      num_tokens,
      [&](int64_t begin, int64_t end) {
        for (int64_t t = begin; t < end; ++t) {
          float* dst = out + t * hidden;
          const int64_t id = token_ids[t] - vocab_begin;
          if (shard && (id < 0 || id >= vocab)) {
            for (int64_t i = 0; i < hidden; ++i) dst[i] = 0.0f;
            continue;
          }
          KILN_CHECK(id >= 0 && id < vocab)
              << "embedding: token id " << id << " outside [0, " << vocab << ")";
          const int64_t base = id * hidden;
          switch (table.dtype) {
            case DType::kF32: {
              const float* src = static_cast<const float*>(table.data) + base;
              for (int64_t i = 0; i < hidden; ++i) dst[i] = src[i];
              break;
            }
            case DType::kBF16: {
              const uint16_t* src = static_cast<const uint16_t*>(table.data) + base;
              for (int64_t i = 0; i < hidden; ++i) dst[i] = bf16_to_f32(src[i]);
              break;
            }
            case DType::kF16: {
              const uint16_t* src = static_cast<const uint16_t*>(table.data) + base;
              for (int64_t i = 0; i < hidden; ++i) dst[i] = f16_to_f32(src[i]);
              break;
            }
            default:
              KILN_CHECK(false) << "embedding: unsupported dtype " << dtype_name(table.dtype);
          }
        }
      },
      hidden);
}

}  // namespace

void embedding(const CpuContext& ctx, const TensorView& table, const int32_t* token_ids, int num_tokens, float* out) {
  gather_rows(ctx, table, 0, /*shard=*/false, token_ids, num_tokens, out);
}

void embedding_shard(const CpuContext& ctx, const TensorView& table, int vocab_begin, const int32_t* token_ids,
                     int num_tokens, float* out) {
  gather_rows(ctx, table, vocab_begin, /*shard=*/true, token_ids, num_tokens, out);
}

}  // namespace kiln::cpu
