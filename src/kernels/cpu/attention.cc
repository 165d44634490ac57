// Paged attention on the CPU: one work item per (new token, KV head) computes all query heads of
// that KV group, so each key/value row is read once per group (GQA/MQA). Scores for the whole
// visible context are materialized (the CPU path is the reference, not a FlashAttention), then a
// max-subtracted softmax in f32 and the weighted sum of V rows in key order. Every query's result
// depends only on its own keys, so chunked prefill and decode give the same bits as a full prefill.
// A draft tree's token (meta.tree_parents) sees the cached prefix and then its path's new tokens:
// the same loops over a list of visible keys, which for a chain is the causal list itself.
// An FP8 cache's rows are dequantized (code x scale) into a row of floats before use.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "base/check.h"
#include "kernels/cpu/simd.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/ops.h"
#include "tensor/dtype.h"

namespace kiln::cpu {
namespace {

float dot_scalar(const float* a, const float* b, int n) {
  float lanes[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int l = 0; l < 8; ++l) lanes[l] += a[i + l] * b[i + l];
  }
  float sum = 0.0f;
  for (float lane : lanes) sum += lane;
  for (; i < n; ++i) sum += a[i] * b[i];
  return sum;
}

KILN_AVX2 float dot_avx2(const float* a, const float* b, int n) { return simd::dot(a, b, n); }
KILN_AVX2 void axpy_avx2(float alpha, const float* x, float* y, int n) {
  simd::axpy(alpha, x, y, n);
}
void axpy_scalar(float alpha, const float* x, float* y, int n) {
  for (int i = 0; i < n; ++i) y[i] += alpha * x[i];
}

// The attention itself, over any cache element type: key_row / value_row (slot, kv_head,
// scratch) give a row of head_dim floats, either in place or dequantized into scratch.
template <typename RowReader>
void attend(const CpuContext& ctx, const float* q, RowReader key_row, RowReader value_row,
            const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale, float* out) {
  const int hd = shape.head_dim;
  KILN_CHECK(shape.num_kv_heads > 0 && shape.num_heads % shape.num_kv_heads == 0)
      << "paged_attention: " << shape.num_heads << " heads over " << shape.num_kv_heads
      << " KV heads";
  const int group = shape.num_heads / shape.num_kv_heads;
  const int num_tokens = meta.num_tokens;
  KILN_CHECK_EQ(meta.query_start[meta.num_seqs], num_tokens);
  const int64_t q_row = static_cast<int64_t>(shape.num_heads) * hd;

  // Which sequence each new token belongs to.
  std::vector<int32_t> seq_of_token(static_cast<size_t>(num_tokens));
  const int max_context = meta.max_seq_len;
  for (int s = 0; s < meta.num_seqs; ++s) {
    KILN_CHECK_LE(meta.seq_lens[s], max_context);
    for (int t = meta.query_start[s]; t < meta.query_start[s + 1]; ++t) seq_of_token[t] = s;
  }
  const bool avx2 = ctx.isa == Isa::kAvx2;
  const auto dot = avx2 ? dot_avx2 : dot_scalar;
  const auto axpy = avx2 ? axpy_avx2 : axpy_scalar;

  const int64_t num_items = static_cast<int64_t>(num_tokens) * shape.num_kv_heads;
  ctx.pool->parallel_for(
      num_items,
      [&](int64_t begin, int64_t end) {
        std::vector<float> scores(static_cast<size_t>(group) * static_cast<size_t>(max_context));
        std::vector<float> scratch(static_cast<size_t>(hd));
        std::vector<int32_t> visible, path;  // draft trees: the key positions a token sees
        for (int64_t item = begin; item < end; ++item) {
          const int t = static_cast<int>(item / shape.num_kv_heads);
          const int kv_head = static_cast<int>(item % shape.num_kv_heads);
          const int s = seq_of_token[t];
          const int num_new = meta.query_start[s + 1] - meta.query_start[s];
          const int first_new = meta.seq_lens[s] - num_new;
          const int position = first_new + (t - meta.query_start[s]);
          int context = position + 1;  // causal: keys 0..position
          if (meta.tree_parents != nullptr) {
            path.clear();
            for (int j = t - meta.query_start[s]; j >= 0; j = meta.tree_parents[meta.query_start[s] + j]) path.push_back(j);
            visible.resize(static_cast<size_t>(first_new));
            for (int j = 0; j < first_new; ++j) visible[static_cast<size_t>(j)] = j;
            for (auto it = path.rbegin(); it != path.rend(); ++it) visible.push_back(first_new + *it);
            context = static_cast<int>(visible.size());
          }
          const auto key_position = [&](int j) { return meta.tree_parents != nullptr ? visible[static_cast<size_t>(j)] : j; };
          const int32_t* table =
              meta.block_tables + static_cast<int64_t>(s) * meta.max_blocks_per_seq;
          const float* q_group = q + t * q_row + static_cast<int64_t>(kv_head) * group * hd;

          for (int jj = 0; jj < context; ++jj) {
            const int j = key_position(jj);
            const int64_t slot =
                static_cast<int64_t>(table[j / meta.block_size]) * meta.block_size +
                j % meta.block_size;
            const float* key = key_row(slot, kv_head, scratch.data());
            for (int g = 0; g < group; ++g) {
              scores[static_cast<size_t>(g) * max_context + jj] =
                  dot(q_group + g * hd, key, hd) * scale;
            }
          }
          for (int g = 0; g < group; ++g) {
            float* row = scores.data() + static_cast<size_t>(g) * max_context;
            float max_score = -std::numeric_limits<float>::infinity();
            for (int j = 0; j < context; ++j) max_score = std::max(max_score, row[j]);
            float sum = 0.0f;
            for (int j = 0; j < context; ++j) {
              row[j] = std::exp(row[j] - max_score);
              sum += row[j];
            }
            const float inv_sum = 1.0f / sum;
            for (int j = 0; j < context; ++j) row[j] *= inv_sum;
          }
          float* out_group = out + t * q_row + static_cast<int64_t>(kv_head) * group * hd;
          std::fill(out_group, out_group + static_cast<int64_t>(group) * hd, 0.0f);
          for (int jj = 0; jj < context; ++jj) {
            const int j = key_position(jj);
            const int64_t slot =
                static_cast<int64_t>(table[j / meta.block_size]) * meta.block_size +
                j % meta.block_size;
            const float* value = value_row(slot, kv_head, scratch.data());
            for (int g = 0; g < group; ++g) {
              axpy(scores[static_cast<size_t>(g) * max_context + jj], value, out_group + g * hd, hd);
            }
          }
        }
      },
      static_cast<int64_t>(group) * max_context * hd * 2);
}

}  // namespace

void paged_attention(const CpuContext& ctx, const float* q, const float* k_cache,
                     const float* v_cache, const PagedAttentionMetadata& meta,
                     const AttentionShape& shape, float scale, float* out) {
  const int64_t kv_row = static_cast<int64_t>(shape.num_kv_heads) * shape.head_dim;
  auto row_of = [&](const float* cache) {
    return [cache, kv_row, hd = shape.head_dim](int64_t slot, int kv_head, float*) {
      return cache + slot * kv_row + static_cast<int64_t>(kv_head) * hd;
    };
  };
  attend(ctx, q, row_of(k_cache), row_of(v_cache), meta, shape, scale, out);
}

void paged_attention(const CpuContext& ctx, const float* q, const Fp8KvCacheLayer& cache,
                     const PagedAttentionMetadata& meta, const AttentionShape& shape, float scale, float* out) {
  const int64_t kv_row = static_cast<int64_t>(shape.num_kv_heads) * shape.head_dim;
  auto row_of = [&](const uint8_t* codes, float tensor_scale) {
    return [codes, tensor_scale, kv_row, hd = shape.head_dim](int64_t slot, int kv_head, float* scratch) {
      const uint8_t* row = codes + slot * kv_row + static_cast<int64_t>(kv_head) * hd;
      for (int i = 0; i < hd; ++i) scratch[i] = fp8_e4m3_to_f32(row[i]) * tensor_scale;
      return static_cast<const float*>(scratch);
    };
  };
  attend(ctx, q, row_of(cache.k, *cache.k_scale), row_of(cache.v, *cache.v_scale), meta, shape, scale, out);
}

void move_kv(const CpuContext& ctx, void* k_cache, void* v_cache, int64_t row_bytes, const int64_t* from,
             const int64_t* to, int num_moves) {
  (void)ctx;  // a few rows per accepted draft: not worth the pool
  for (int i = 0; i < num_moves; ++i) {
    for (void* cache : {k_cache, v_cache}) {
      auto* bytes = static_cast<uint8_t*>(cache);
      std::memmove(bytes + to[i] * row_bytes, bytes + from[i] * row_bytes, static_cast<size_t>(row_bytes));
    }
  }
}

}  // namespace kiln::cpu
