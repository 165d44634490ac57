// Block tables per sequence on top of the BlockPool, and automatic prefix caching: a sequence's
// full blocks are hashed as a chain once their K/V is computed, and a new sequence starts from
// the longest chain of cached blocks that matches its tokens.
//
// Blocks are registered in the cache only after the step that computed them (cache_computed),
// never at allocation: a hit therefore always points at K/V that is already written, whatever
// order a backend processes the sequences of one batch in.
//
// Sharing between sequences (prefix hits, and n > 1 choices of one request) is of full blocks
// only; a partial last block is never shared, so no copy-on-write is needed: a sequence that
// reuses a prefix recomputes its own partial tail into a fresh block.
#pragma once

#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "kvcache/block_hash.h"
#include "kvcache/block_pool.h"

namespace kiln {

struct PrefixHit {
  std::vector<int> block_ids;       // cached blocks, in sequence order
  std::vector<BlockHash> hashes;    // their chain hashes
  int num_tokens = 0;               // block_ids.size() * block_size
};

struct PrefixCacheCounters {
  int64_t queries_tokens = 0;
  int64_t hits_tokens = 0;
};

class KvCacheManager {
 public:
  KvCacheManager(int num_blocks, int block_size, bool enable_prefix_caching);

  int block_size() const { return pool_.block_size(); }
  int num_blocks() const { return pool_.num_blocks(); }
  bool prefix_caching_enabled() const { return enable_prefix_caching_; }
  const BlockPool& pool() const { return pool_; }
  double usage() const { return pool_.usage(); }

  // The longest cached prefix of `token_ids`, in full blocks, leaving at least the last token
  // to compute (its logits are needed). Takes no references. Empty when caching is off.
  PrefixHit find_cached_prefix(std::span<const int32_t> token_ids) const;
  // Counts a prefix-cache query of `query_tokens` tokens of which `hit_tokens` were cached.
  void record_query(int64_t query_tokens, int64_t hit_tokens);
  const PrefixCacheCounters& counters() const { return counters_; }

  // Grows seq's block table to hold `num_tokens` tokens. A sequence without blocks first takes
  // `hit`'s blocks (when given). Returns false and changes nothing when free blocks do not
  // suffice.
  bool allocate(int64_t seq_id, int num_tokens, const PrefixHit* hit = nullptr);
  // Registers seq's full blocks among its first `num_computed_tokens` tokens in the prefix
  // cache. `token_ids` are the sequence's tokens (at least num_computed_tokens of them).
  void cache_computed(int64_t seq_id, std::span<const int32_t> token_ids, int num_computed_tokens);
  // Releases every block of seq (tail blocks first, so they are evicted before the shared
  // prefix) and forgets it. Unknown ids are ignored.
  void free(int64_t seq_id);

  bool has_sequence(int64_t seq_id) const { return tables_.count(seq_id) > 0; }
  // Block ids of seq in order; empty for an unknown sequence.
  const std::vector<int>& block_table(int64_t seq_id) const;
  int num_sequences() const { return static_cast<int>(tables_.size()); }
  // Blocks a sequence needs to hold `num_tokens` tokens.
  int blocks_for(int num_tokens) const { return (num_tokens + block_size() - 1) / block_size(); }

 private:
  struct SeqBlocks {
    std::vector<int> block_ids;
    std::vector<BlockHash> hashes;  // of the first hashes.size() blocks (computed, full)
  };

  BlockPool pool_;
  bool enable_prefix_caching_;
  PrefixCacheCounters counters_;
  std::unordered_map<int64_t, SeqBlocks> tables_;
};

}  // namespace kiln
