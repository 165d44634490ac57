// A pool of fixed-size KV blocks, named by integer ids [0, num_blocks): reference counts, a free
// list kept in least-recently-freed order, and the prefix cache's hash -> block map. Integers
// only; the backend owns the memory the ids index.
//
// A block whose count drops to 0 goes to the tail of the free list but keeps its hash, so a later
// request with the same prefix can take it back (a cache hit) until allocation reaches it at the
// head of the list and evicts it: cached blocks are evicted least recently used first.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

#include "kvcache/block_hash.h"

namespace kiln {

class BlockPool {
 public:
  BlockPool(int num_blocks, int block_size);

  int num_blocks() const { return static_cast<int>(blocks_.size()); }
  int block_size() const { return block_size_; }
  // Blocks with no reference, cached ones included (they are evictable).
  int num_free_blocks() const { return num_free_; }
  double usage() const;  // 0..1, referenced blocks / all blocks

  // Takes the free list's head (evicting its hash if it had one) with reference count 1;
  // nullopt when no block is free.
  std::optional<int> allocate();
  // One more reference; a free (cached) block leaves the free list.
  void touch(int block_id);
  // One less reference; at 0 the block goes to the tail of the free list, its hash kept.
  void release(int block_id);

  // The cached block holding exactly this prefix, verified against parent hash and token ids.
  std::optional<int> lookup(const BlockHash& hash, const BlockHash& parent,
                            std::span<const int32_t> token_ids) const;
  // Registers a referenced, fully computed block under `hash`. Returns false (and leaves the
  // block uncached) when another block already holds this hash or the block is already cached.
  bool cache(int block_id, const BlockHash& hash, const BlockHash& parent,
             std::span<const int32_t> token_ids);

  int ref_count(int block_id) const;
  bool is_cached(int block_id) const;
  int64_t num_evictions() const { return num_evictions_; }
  int num_cached_blocks() const { return static_cast<int>(hash_to_block_.size()); }
  // The free list from head (next evicted) to tail, for tests.
  std::vector<int> free_list() const;

 private:
  struct Block {
    int ref_count = 0;
    int prev = -1;  // free-list links, -1 at the ends or when not free
    int next = -1;
    bool in_free_list = false;
    bool cached = false;
    BlockHash hash;
    BlockHash parent;
    std::vector<int32_t> token_ids;  // [block_size] when cached
  };

  void unlink(int block_id);
  void push_back(int block_id);
  void evict(int block_id);

  int block_size_;
  std::vector<Block> blocks_;
  int head_ = -1;
  int tail_ = -1;
  int num_free_ = 0;
  int64_t num_evictions_ = 0;
  std::unordered_map<BlockHash, int, BlockHashHasher> hash_to_block_;
};

}  // namespace kiln
