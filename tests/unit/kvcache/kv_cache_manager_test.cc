#include "kvcache/kv_cache_manager.h"

#include <gtest/gtest.h>

#include <map>
#include <random>
#include <vector>

namespace kiln {
namespace {

std::vector<int32_t> tokens(int start, int count) {
  std::vector<int32_t> t;
  for (int i = 0; i < count; ++i) t.push_back(start + i);
  return t;
}

TEST(KvCacheManagerTest, AllocatesBlocksForTokensAndFreesInReverse) {
  KvCacheManager kv(8, 4, true);
  EXPECT_TRUE(kv.allocate(1, 9));  // 3 blocks
  EXPECT_EQ(kv.block_table(1), (std::vector<int>{0, 1, 2}));
  EXPECT_TRUE(kv.allocate(1, 12));  // still 3
  EXPECT_EQ(kv.block_table(1).size(), 3u);
  EXPECT_TRUE(kv.allocate(1, 13));
  EXPECT_EQ(kv.block_table(1).size(), 4u);
  EXPECT_FALSE(kv.allocate(2, 20));  // 5 blocks, 4 free: nothing changes
  EXPECT_FALSE(kv.has_sequence(2));
  EXPECT_EQ(kv.pool().num_free_blocks(), 4);
  kv.free(1);
  EXPECT_EQ(kv.pool().num_free_blocks(), 8);
  // Freed tail-first: the last block of the sequence is evicted before its first.
  EXPECT_EQ(kv.pool().free_list(), (std::vector<int>{4, 5, 6, 7, 3, 2, 1, 0}));
}

TEST(KvCacheManagerTest, LongestCachedPrefixLeavesTheLastTokenToCompute) {
  KvCacheManager kv(16, 4, true);
  const auto prompt = tokens(100, 12);  // exactly 3 blocks
  EXPECT_TRUE(kv.find_cached_prefix(prompt).block_ids.empty());
  ASSERT_TRUE(kv.allocate(1, 12));
  kv.cache_computed(1, prompt, 12);
  // Same prompt: at most 2 blocks (8 tokens), the last token must be computed.
  PrefixHit hit = kv.find_cached_prefix(prompt);
  EXPECT_EQ(hit.num_tokens, 8);
  EXPECT_EQ(hit.block_ids, (std::vector<int>{0, 1}));
  // A longer prompt with the same start takes all 3.
  auto longer = prompt;
  longer.push_back(7);
  EXPECT_EQ(kv.find_cached_prefix(longer).num_tokens, 12);
  // A change in block 1 cuts the chain there, even if block 2 matches.
  auto changed = longer;
  changed[5] = 999;
  EXPECT_EQ(kv.find_cached_prefix(changed).num_tokens, 4);
  // Only computed tokens are cached.
  KvCacheManager kv2(16, 4, true);
  ASSERT_TRUE(kv2.allocate(1, 12));
  kv2.cache_computed(1, prompt, 7);
  EXPECT_EQ(kv2.find_cached_prefix(longer).num_tokens, 4);
}

TEST(KvCacheManagerTest, HitsShareBlocksWithReferenceCounts) {
  KvCacheManager kv(6, 4, true);
  auto prompt = tokens(0, 10);
  ASSERT_TRUE(kv.allocate(1, 10));
  kv.cache_computed(1, prompt, 10);
  const PrefixHit hit = kv.find_cached_prefix(prompt);
  ASSERT_EQ(hit.num_tokens, 8);
  ASSERT_TRUE(kv.allocate(2, 10, &hit));
  EXPECT_EQ(kv.block_table(2)[0], kv.block_table(1)[0]);
  EXPECT_EQ(kv.block_table(2)[1], kv.block_table(1)[1]);
  EXPECT_NE(kv.block_table(2)[2], kv.block_table(1)[2]);  // the partial block is not shared
  EXPECT_EQ(kv.pool().ref_count(kv.block_table(1)[0]), 2);
  EXPECT_EQ(kv.pool().num_free_blocks(), 2);
  kv.free(1);
  EXPECT_EQ(kv.pool().ref_count(kv.block_table(2)[0]), 1);
  kv.free(2);
  EXPECT_EQ(kv.pool().num_free_blocks(), 6);
  // After both are gone the prefix is still cached, and a hit on free blocks counts them as
  // no longer allocatable.
  const PrefixHit again = kv.find_cached_prefix(prompt);
  EXPECT_EQ(again.num_tokens, 8);
  EXPECT_FALSE(kv.allocate(3, 6 * 4 + 1, &again));
  EXPECT_TRUE(kv.allocate(3, 6 * 4, &again));
  EXPECT_EQ(kv.pool().num_free_blocks(), 0);
}

TEST(KvCacheManagerTest, DisabledCachingNeverHits) {
  KvCacheManager kv(8, 4, false);
  const auto prompt = tokens(0, 12);
  ASSERT_TRUE(kv.allocate(1, 12));
  kv.cache_computed(1, prompt, 12);
  EXPECT_EQ(kv.find_cached_prefix(prompt).num_tokens, 0);
  EXPECT_EQ(kv.pool().num_cached_blocks(), 0);
}

// Random allocate / grow / cache / free sequences over a few shared prompts: reference counts
// always equal the number of tables holding a block, and nothing leaks at the end.
TEST(KvCacheManagerTest, RandomizedNoLeakAndConsistentRefCounts) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 20; ++round) {
    KvCacheManager kv(32, 4, round % 4 != 3);
    std::vector<std::vector<int32_t>> prompts;
    for (int p = 0; p < 4; ++p) prompts.push_back(tokens(p < 2 ? 0 : 1000 * p, 6 + 5 * p));
    std::map<int64_t, std::pair<std::vector<int32_t>, int>> live;  // tokens, num_computed
    int64_t next_id = 0;
    for (int op = 0; op < 400; ++op) {
      const int kind = static_cast<int>(rng() % 4);
      if (kind == 0 || live.empty()) {
        auto t = prompts[rng() % prompts.size()];
        const PrefixHit hit = kv.find_cached_prefix(t);
        const int want = hit.num_tokens + 1 + static_cast<int>(rng() % (t.size() - hit.num_tokens));
        if (kv.allocate(next_id, want, &hit)) live[next_id] = {t, want};
        ++next_id;
      } else {
        auto it = live.begin();
        std::advance(it, rng() % live.size());
        if (kind == 1) {
          kv.free(it->first);  // finish or abort
          live.erase(it);
        } else {
          auto& [t, computed] = it->second;
          kv.cache_computed(it->first, t, computed);
          t.push_back(static_cast<int32_t>(rng() % 50));
          if (kv.allocate(it->first, computed + 1)) ++computed;
        }
      }
      std::map<int, int> refs;
      for (const auto& [id, state] : live) {
        for (int b : kv.block_table(id)) ++refs[b];
      }
      int referenced = 0;
      for (int b = 0; b < kv.num_blocks(); ++b) {
        ASSERT_EQ(kv.pool().ref_count(b), refs[b]) << "block " << b << " op " << op;
        referenced += refs[b] > 0;
      }
      ASSERT_EQ(kv.pool().num_free_blocks(), kv.num_blocks() - referenced);
    }
    for (const auto& [id, state] : live) kv.free(id);
    EXPECT_EQ(kv.pool().num_free_blocks(), kv.num_blocks());
    EXPECT_EQ(kv.num_sequences(), 0);
  }
}

TEST(KvCacheManagerTest, CountsQueriesAndHitsInTokens) {
  KvCacheManager kv(8, 4, true);
  kv.record_query(10, 0);
  kv.record_query(10, 8);
  EXPECT_EQ(kv.counters().queries_tokens, 20);
  EXPECT_EQ(kv.counters().hits_tokens, 8);
}

}  // namespace
}  // namespace kiln
