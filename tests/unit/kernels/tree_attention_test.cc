// Paged attention over speculative draft trees (PagedAttentionMetadata::tree_parents) against a
// brute-force reference that masks every key by an ancestor test, a chain given as a tree against
// plain causal attention (the same bits), and the KV-move op over f32 and FP8 rows.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "kernel_test_util.h"
#include "kernels/ops.h"

namespace kiln::cpu {
namespace {

using testing::isas_to_test;
using testing::random_floats;

// Whether new token `a` is `t` or one of its ancestors, by walking up from t.
bool on_path(const std::vector<int32_t>& parents, int begin, int a, int t) {
  for (int j = t - begin; j >= 0; j = parents[static_cast<size_t>(begin + j)]) {
    if (begin + j == a) return true;
  }
  return false;
}

TEST(TreeAttentionTest, EachNodeSeesThePrefixAndItsAncestorsOnly) {
  ThreadPool pool(3);
  const int block_size = 4, num_blocks = 20, max_blocks = 4;
  // Sequence 0: a draft tree of 7 new tokens (root, two children, grandchildren on both sides)
  // over a cached prefix of 6; sequence 1: a decode at 9; sequence 2: a 3-token chain prefill
  // (parents i - 1) next to it.
  const std::vector<int32_t> seq_lens = {13, 10, 3};
  const std::vector<int32_t> query_start = {0, 7, 8, 11};
  const std::vector<int32_t> parents = {-1, 0, 0, 1, 2, 2, 4, /**/ -1, /**/ -1, 0, 1};
  const std::vector<int32_t> tables = {17, 3, 9, 14, /**/ 0, 12, 5, -1, /**/ 8, -1, -1, -1};
  for (const AttentionShape shape : {AttentionShape{4, 2, 16}, AttentionShape{3, 1, 64}}) {
    const int hd = shape.head_dim, group = shape.num_heads / shape.num_kv_heads;
    const int num_tokens = query_start.back();
    const std::vector<float> q = random_floats(static_cast<size_t>(num_tokens) * shape.num_heads * hd, 40, -2, 2);
    const size_t cache_floats = static_cast<size_t>(num_blocks) * block_size * shape.num_kv_heads * hd;
    const std::vector<float> k_cache = random_floats(cache_floats, 41, -2, 2);
    const std::vector<float> v_cache = random_floats(cache_floats, 42);
    PagedAttentionMetadata meta{query_start.data(), seq_lens.data(), tables.data(), 3, max_blocks, block_size,
                                num_tokens,         13};
    meta.tree_parents = parents.data();
    const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
    for (Isa isa : isas_to_test()) {
      std::vector<float> out(q.size(), 9.0f);
      paged_attention(CpuContext{&pool, isa}, q.data(), k_cache.data(), v_cache.data(), meta, shape, scale, out.data());
      for (int s = 0; s < 3; ++s) {
        const int begin = query_start[s], num_new = query_start[s + 1] - begin, first_new = seq_lens[s] - num_new;
        for (int t = begin; t < query_start[s + 1]; ++t) {
          // Every key of the sequence, masked: the prefix, and new tokens on t's path.
          std::vector<int> visible;
          for (int j = 0; j < seq_lens[s]; ++j) {
            if (j < first_new || on_path(parents, begin, begin + j - first_new, t)) visible.push_back(j);
          }
          for (int h = 0; h < shape.num_heads; ++h) {
            const int kvh = h / group;
            const float* qh = q.data() + (static_cast<size_t>(t) * shape.num_heads + h) * hd;
            const auto slot = [&](int j) {
              return static_cast<int64_t>(tables[s * max_blocks + j / block_size]) * block_size + j % block_size;
            };
            std::vector<double> scores;
            double max_score = -1e300;
            for (int j : visible) {
              const float* key = k_cache.data() + (slot(j) * shape.num_kv_heads + kvh) * hd;
              double dot = 0;
              for (int i = 0; i < hd; ++i) dot += static_cast<double>(qh[i]) * key[i];
              scores.push_back(dot * scale);
              max_score = std::max(max_score, scores.back());
            }
            double sum = 0;
            for (double& sc : scores) sum += (sc = std::exp(sc - max_score));
            for (int i = 0; i < hd; ++i) {
              double ref = 0;
              for (size_t n = 0; n < visible.size(); ++n) {
                ref += scores[n] / sum * v_cache[(slot(visible[n]) * shape.num_kv_heads + kvh) * hd + i];
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

TEST(TreeAttentionTest, AChainGivenAsATreeGivesTheCausalBits) {
  ThreadPool pool(2);
  const AttentionShape shape{4, 2, 16};
  const int block_size = 4, max_blocks = 3, hd = shape.head_dim;
  const std::vector<int32_t> seq_lens = {11, 5};
  const std::vector<int32_t> query_start = {0, 5, 10};
  const std::vector<int32_t> chain = {-1, 0, 1, 2, 3, -1, 0, 1, 2, 3};
  const std::vector<int32_t> tables = {7, 2, 4, /**/ 0, 9, -1};
  const int num_tokens = query_start.back();
  const std::vector<float> q = random_floats(static_cast<size_t>(num_tokens) * shape.num_heads * hd, 50, -2, 2);
  const std::vector<float> k_cache = random_floats(static_cast<size_t>(10) * block_size * 2 * hd, 51, -2, 2);
  const std::vector<float> v_cache = random_floats(k_cache.size(), 52);
  PagedAttentionMetadata meta{query_start.data(), seq_lens.data(), tables.data(), 2, max_blocks, block_size, num_tokens, 11};
  const float scale = 0.25f;
  for (Isa isa : isas_to_test()) {
    std::vector<float> causal(q.size()), tree(q.size());
    meta.tree_parents = nullptr;
    paged_attention(CpuContext{&pool, isa}, q.data(), k_cache.data(), v_cache.data(), meta, shape, scale, causal.data());
    meta.tree_parents = chain.data();
    paged_attention(CpuContext{&pool, isa}, q.data(), k_cache.data(), v_cache.data(), meta, shape, scale, tree.data());
    EXPECT_EQ(0, std::memcmp(causal.data(), tree.data(), causal.size() * sizeof(float))) << isa_name(isa);
  }
}

TEST(MoveKvTest, CopiesWholeRowsInOrderInKAndV) {
  ThreadPool pool(1);
  for (const int64_t row_bytes : {int64_t{2 * 16 * 4}, int64_t{2 * 16}}) {  // f32 rows, FP8 rows
    const int num_slots = 12;
    std::vector<uint8_t> k(static_cast<size_t>(num_slots * row_bytes)), v(k.size());
    for (size_t i = 0; i < k.size(); ++i) {
      k[i] = static_cast<uint8_t>(i * 7 + 1);
      v[i] = static_cast<uint8_t>(i * 13 + 5);
    }
    const std::vector<uint8_t> k0 = k, v0 = v;
    // An accepted path 2 -> 5 -> 6 of a tree rooted at slot 0: slots 2, 5, 6 to 1, 2, 3 (the
    // second move reads 5, past the first's destination).
    const std::vector<int64_t> from = {2, 5, 6}, to = {1, 2, 3};
    move_kv(CpuContext{&pool, Isa::kScalar}, k.data(), v.data(), row_bytes, from.data(), to.data(), 3);
    const auto row = [&](const std::vector<uint8_t>& cache, int64_t slot) {
      return std::vector<uint8_t>(cache.begin() + slot * row_bytes, cache.begin() + (slot + 1) * row_bytes);
    };
    for (size_t i = 0; i < from.size(); ++i) {
      EXPECT_EQ(row(k, to[i]), row(k0, from[i])) << i;
      EXPECT_EQ(row(v, to[i]), row(v0, from[i])) << i;
    }
    for (int64_t slot : {0, 4, 5, 6, 7, 11}) {  // untouched (sources keep their entries)
      EXPECT_EQ(row(k, slot), row(k0, slot)) << slot;
      EXPECT_EQ(row(v, slot), row(v0, slot)) << slot;
    }
  }
}

}  // namespace
}  // namespace kiln::cpu
