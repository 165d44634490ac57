#include "kvcache/kv_cache_manager.h"

#include <algorithm>

#include "base/check.h"

namespace kiln {

KvCacheManager::KvCacheManager(int num_blocks, int block_size, bool enable_prefix_caching)
    : pool_(num_blocks, block_size), enable_prefix_caching_(enable_prefix_caching) {}

PrefixHit KvCacheManager::find_cached_prefix(std::span<const int32_t> token_ids) const {
  PrefixHit hit;
  if (!enable_prefix_caching_ || token_ids.empty()) return hit;
  const int bs = block_size();
  const int max_blocks = (static_cast<int>(token_ids.size()) - 1) / bs;
  BlockHash parent = kRootBlockHash;
  for (int i = 0; i < max_blocks; ++i) {
    const auto block_tokens = token_ids.subspan(static_cast<size_t>(i) * bs, bs);
    const BlockHash h = hash_block(parent, block_tokens);
    const auto id = pool_.lookup(h, parent, block_tokens);
    if (!id) break;
    hit.block_ids.push_back(*id);
    hit.hashes.push_back(h);
    parent = h;
  }
  hit.num_tokens = static_cast<int>(hit.block_ids.size()) * bs;
  return hit;
}

void KvCacheManager::record_query(int64_t query_tokens, int64_t hit_tokens) {
  counters_.queries_tokens += query_tokens;
  counters_.hits_tokens += hit_tokens;
}

bool KvCacheManager::allocate(int64_t seq_id, int num_tokens, const PrefixHit* hit) {
  auto it = tables_.find(seq_id);
  const bool is_new = it == tables_.end() || it->second.block_ids.empty();
  const bool use_hit = is_new && hit != nullptr && !hit->block_ids.empty();
  const int have = is_new ? 0 : static_cast<int>(it->second.block_ids.size());
  const int from_hit = use_hit ? static_cast<int>(hit->block_ids.size()) : 0;
  const int need = blocks_for(num_tokens) - have - from_hit;
  // Touching a hit block that sits in the free list takes it out of the allocatable pool.
  int free_after_hit = pool_.num_free_blocks();
  if (use_hit) {
    for (int id : hit->block_ids) {
      if (pool_.ref_count(id) == 0) --free_after_hit;
    }
  }
  if (need > free_after_hit) return false;

  SeqBlocks& seq = tables_[seq_id];
  if (use_hit) {
    for (int id : hit->block_ids) pool_.touch(id);
    seq.block_ids = hit->block_ids;
    seq.hashes = hit->hashes;
  }
  for (int i = 0; i < need; ++i) {
    const auto id = pool_.allocate();
    KILN_CHECK(id.has_value()) << "free block count was checked";
    seq.block_ids.push_back(*id);
  }
  return true;
}

void KvCacheManager::cache_computed(int64_t seq_id, std::span<const int32_t> token_ids,
                                    int num_computed_tokens) {
  if (!enable_prefix_caching_) return;
  auto it = tables_.find(seq_id);
  if (it == tables_.end()) return;
  SeqBlocks& seq = it->second;
  const int bs = block_size();
  KILN_CHECK_LE(num_computed_tokens, static_cast<int>(token_ids.size()));
  const int num_full = std::min(num_computed_tokens / bs, static_cast<int>(seq.block_ids.size()));
  for (int i = static_cast<int>(seq.hashes.size()); i < num_full; ++i) {
    const BlockHash parent = i == 0 ? kRootBlockHash : seq.hashes[i - 1];
    const auto block_tokens = token_ids.subspan(static_cast<size_t>(i) * bs, bs);
    const BlockHash h = hash_block(parent, block_tokens);
    // Another sequence may have computed the same block in the same step; its copy stays the
    // cached one and this block is freed normally later.
    pool_.cache(seq.block_ids[i], h, parent, block_tokens);
    seq.hashes.push_back(h);
  }
}

void KvCacheManager::free(int64_t seq_id) {
  auto it = tables_.find(seq_id);
  if (it == tables_.end()) return;
  const std::vector<int>& ids = it->second.block_ids;
  for (auto b = ids.rbegin(); b != ids.rend(); ++b) pool_.release(*b);
  tables_.erase(it);
}

const std::vector<int>& KvCacheManager::block_table(int64_t seq_id) const {
  static const std::vector<int> kEmpty;
  auto it = tables_.find(seq_id);
  return it == tables_.end() ? kEmpty : it->second.block_ids;
}

}  // namespace kiln
