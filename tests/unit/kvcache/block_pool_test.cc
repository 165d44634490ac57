#include "kvcache/block_pool.h"

#include <gtest/gtest.h>

#include <vector>

#include "kvcache/block_hash.h"

namespace kiln {
namespace {

std::vector<int32_t> tokens(int start, int count) {
  std::vector<int32_t> t;
  for (int i = 0; i < count; ++i) t.push_back(start + i);
  return t;
}

TEST(BlockHashTest, ChainsOverParentAndTokens) {
  const auto a = tokens(0, 4);
  const auto b = tokens(1, 4);
  const BlockHash ha = hash_block(kRootBlockHash, a);
  EXPECT_EQ(ha, hash_block(kRootBlockHash, a));
  EXPECT_NE(ha, hash_block(kRootBlockHash, b));
  // The same tokens under a different parent are a different block.
  EXPECT_NE(hash_block(ha, a), hash_block(kRootBlockHash, a));
  EXPECT_NE(hash_block(ha, b), hash_block(hash_block(kRootBlockHash, b), b));
  // Both lanes differ (a 128-bit identity, not one 64-bit value twice).
  EXPECT_NE(ha.hi, ha.lo);
}

TEST(BlockPoolTest, AllocatesInOrderAndCountsReferences) {
  BlockPool pool(4, 2);
  EXPECT_EQ(pool.num_free_blocks(), 4);
  EXPECT_EQ(pool.allocate(), 0);
  EXPECT_EQ(pool.allocate(), 1);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  EXPECT_DOUBLE_EQ(pool.usage(), 0.5);
  pool.touch(0);
  EXPECT_EQ(pool.ref_count(0), 2);
  pool.release(0);
  EXPECT_EQ(pool.num_free_blocks(), 2);
  pool.release(0);
  EXPECT_EQ(pool.num_free_blocks(), 3);
  EXPECT_EQ(pool.free_list(), (std::vector<int>{2, 3, 0}));
  EXPECT_EQ(pool.allocate(), 2);
  EXPECT_EQ(pool.allocate(), 3);
  EXPECT_EQ(pool.allocate(), 0);
  EXPECT_EQ(pool.allocate(), std::nullopt);
}

TEST(BlockPoolTest, CachedBlocksSurviveFreeUntilEvictedLeastRecentlyUsedFirst) {
  BlockPool pool(3, 2);
  const auto t0 = tokens(10, 2), t1 = tokens(20, 2);
  const BlockHash h0 = hash_block(kRootBlockHash, t0);
  const BlockHash h1 = hash_block(kRootBlockHash, t1);
  const int b0 = *pool.allocate();
  const int b1 = *pool.allocate();
  EXPECT_TRUE(pool.cache(b0, h0, kRootBlockHash, t0));
  EXPECT_TRUE(pool.cache(b1, h1, kRootBlockHash, t1));
  EXPECT_FALSE(pool.cache(b1, h1, kRootBlockHash, t1));  // already cached
  pool.release(b0);  // b0 freed first: least recently used
  pool.release(b1);
  EXPECT_EQ(pool.lookup(h0, kRootBlockHash, t0), b0);
  EXPECT_EQ(pool.lookup(h1, kRootBlockHash, t1), b1);
  // A hash match with different tokens or parent is not a hit.
  EXPECT_EQ(pool.lookup(h0, kRootBlockHash, t1), std::nullopt);
  EXPECT_EQ(pool.lookup(h0, h1, t0), std::nullopt);
  EXPECT_EQ(pool.free_list(), (std::vector<int>{2, b0, b1}));
  // The never-cached block goes first, then b0 (LRU) is evicted, b1 stays.
  EXPECT_EQ(pool.allocate(), 2);
  EXPECT_EQ(pool.allocate(), b0);
  EXPECT_EQ(pool.lookup(h0, kRootBlockHash, t0), std::nullopt);
  EXPECT_EQ(pool.lookup(h1, kRootBlockHash, t1), b1);
  EXPECT_EQ(pool.num_evictions(), 1);
  // Touching a cached free block takes it out of the free list.
  pool.touch(b1);
  EXPECT_EQ(pool.num_free_blocks(), 0);
  EXPECT_EQ(pool.allocate(), std::nullopt);
}

TEST(BlockPoolTest, TouchMovesBlockToTailOnNextRelease) {
  BlockPool pool(2, 1);
  const int a = *pool.allocate();
  const int b = *pool.allocate();
  pool.release(a);
  pool.release(b);
  pool.touch(a);  // a reused: now most recently used
  pool.release(a);
  EXPECT_EQ(pool.free_list(), (std::vector<int>{b, a}));
}

}  // namespace
}  // namespace kiln
