// RoPE + paged cache write and paged attention against double references, over scattered blocks,
// GQA and MQA, prefill chunks over a cached prefix and decodes in one batch.
#include <gtest/gtest.h>

#include <cmath>

#include "kernel_test_util.h"
#include "kernels/ops.h"

namespace kiln::cpu {
namespace {

using testing::isas_to_test;
using testing::random_floats;

TEST(RopeAndCacheKvTest, RotatesPairsAndWritesSlots) {
  ThreadPool pool(2);
  const AttentionShape shape{4, 2, 16};
  const int num_tokens = 3, max_position = 40, hd = shape.head_dim, half = hd / 2;
  const std::vector<float> cos_sin = random_floats(static_cast<size_t>(max_position) * hd, 20);
  const std::vector<float> q0 = random_floats(static_cast<size_t>(num_tokens) * 4 * hd, 21);
  const std::vector<float> k = random_floats(static_cast<size_t>(num_tokens) * 2 * hd, 22);
  const std::vector<float> v = random_floats(k.size(), 23);
  const std::vector<int32_t> positions = {0, 39, 5};
  const std::vector<int64_t> slots = {6, 1, -1};  // -1: padding, not written
  for (Isa isa : isas_to_test()) {
    std::vector<float> q = q0;
    std::vector<float> k_cache(8 * 2 * hd, 0.5f), v_cache(8 * 2 * hd, 0.5f);
    rope_and_cache_kv(CpuContext{&pool, isa}, q.data(), k.data(), v.data(), positions.data(),
                      slots.data(), num_tokens, shape, cos_sin.data(), max_position, k_cache.data(),
                      v_cache.data());
    auto check = [&](const float* in, const float* out, int pos) {
      const float* c = cos_sin.data() + pos * hd;
      for (int i = 0; i < half; ++i) {
        const double x1 = in[i], x2 = in[i + half];
        EXPECT_NEAR(out[i], x1 * c[i] - x2 * c[half + i], 1e-6);
        EXPECT_NEAR(out[i + half], x2 * c[i] + x1 * c[half + i], 1e-6);
      }
    };
    for (int t = 0; t < num_tokens; ++t) {
      for (int h = 0; h < 4; ++h) {
        check(q0.data() + (t * 4 + h) * hd, q.data() + (t * 4 + h) * hd, positions[t]);
      }
      if (slots[t] < 0) continue;
      for (int h = 0; h < 2; ++h) {
        check(k.data() + (t * 2 + h) * hd, k_cache.data() + (slots[t] * 2 + h) * hd, positions[t]);
        for (int i = 0; i < hd; ++i) {
          EXPECT_EQ(v_cache[(slots[t] * 2 + h) * hd + i], v[(t * 2 + h) * hd + i]);
        }
      }
    }
    for (int slot : {0, 2, 3, 4, 5, 7}) EXPECT_EQ(k_cache[slot * 2 * hd], 0.5f) << slot;
  }
}

TEST(PagedAttentionTest, MatchesDoubleReference) {
  ThreadPool pool(3);
  const int block_size = 4, num_blocks = 20;
  // Sequence 0: 5 new tokens over a cached prefix of 6; sequence 1: a decode at 9;
  // sequence 2: a fresh 3-token prefill.
  const std::vector<int32_t> seq_lens = {11, 10, 3};
  const std::vector<int32_t> query_start = {0, 5, 6, 9};
  const int max_blocks = 3;
  const std::vector<int32_t> tables = {17, 3, 9, /**/ 0, 12, 5, /**/ 8, -1, -1};
  for (const AttentionShape shape :
       {AttentionShape{4, 2, 16}, AttentionShape{3, 1, 64}, AttentionShape{2, 2, 8}}) {
    const int hd = shape.head_dim, group = shape.num_heads / shape.num_kv_heads;
    const int num_tokens = query_start.back();
    const std::vector<float> q =
        random_floats(static_cast<size_t>(num_tokens) * shape.num_heads * hd, 30, -2, 2);
    const size_t cache_floats =
        static_cast<size_t>(num_blocks) * block_size * shape.num_kv_heads * hd;
    const std::vector<float> k_cache = random_floats(cache_floats, 31, -2, 2);
    const std::vector<float> v_cache = random_floats(cache_floats, 32);
    const PagedAttentionMetadata meta{query_start.data(), seq_lens.data(), tables.data(), 3,
                                      max_blocks,         block_size,      num_tokens,    11};
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (Isa isa : isas_to_test()) {
      std::vector<float> out(q.size(), 9.0f);
      paged_attention(CpuContext{&pool, isa}, q.data(), k_cache.data(), v_cache.data(), meta, shape,
                      scale, out.data());
      for (int s = 0; s < 3; ++s) {
        const int num_new = query_start[s + 1] - query_start[s];
        for (int t = query_start[s]; t < query_start[s + 1]; ++t) {
          const int position = seq_lens[s] - num_new + (t - query_start[s]);
          for (int h = 0; h < shape.num_heads; ++h) {
            const int kvh = h / group;
            const float* qh = q.data() + (static_cast<size_t>(t) * shape.num_heads + h) * hd;
            std::vector<double> scores(static_cast<size_t>(position) + 1);
            double max_score = -1e300;
            for (int j = 0; j <= position; ++j) {
              const int64_t slot =
                  static_cast<int64_t>(tables[s * max_blocks + j / block_size]) * block_size +
                  j % block_size;
              const float* key = k_cache.data() + (slot * shape.num_kv_heads + kvh) * hd;
              double dot = 0;
              for (int i = 0; i < hd; ++i) dot += static_cast<double>(qh[i]) * key[i];
              scores[static_cast<size_t>(j)] = dot * scale;
              max_score = std::max(max_score, scores[static_cast<size_t>(j)]);
            }
            double sum = 0;
            for (double& sc : scores) sum += (sc = std::exp(sc - max_score));
            for (int i = 0; i < hd; ++i) {
              double ref = 0;
              for (int j = 0; j <= position; ++j) {
                const int64_t slot =
                    static_cast<int64_t>(tables[s * max_blocks + j / block_size]) * block_size +
                    j % block_size;
                ref += scores[static_cast<size_t>(j)] / sum *
                       v_cache[(slot * shape.num_kv_heads + kvh) * hd + i];
              }
              ASSERT_NEAR(out[(static_cast<size_t>(t) * shape.num_heads + h) * hd + i], ref, 2e-6)
                  << "token " << t << " head " << h << " dim " << i << " isa " << isa_name(isa);
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
