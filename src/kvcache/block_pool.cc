#include "kvcache/block_pool.h"

#include <algorithm>

#include "base/check.h"

namespace kiln {

BlockPool::BlockPool(int num_blocks, int block_size)
    : block_size_(block_size), blocks_(static_cast<size_t>(num_blocks)) {
  KILN_CHECK(num_blocks > 0 && block_size > 0) << "num_blocks " << num_blocks << " block_size "
                                               << block_size;
  for (int i = 0; i < num_blocks; ++i) push_back(i);
}

double BlockPool::usage() const {
  return 1.0 - static_cast<double>(num_free_) / static_cast<double>(blocks_.size());
}

void BlockPool::unlink(int block_id) {
  Block& b = blocks_[block_id];
  KILN_CHECK(b.in_free_list) << "block " << block_id;
  if (b.prev >= 0) blocks_[b.prev].next = b.next; else head_ = b.next;
  if (b.next >= 0) blocks_[b.next].prev = b.prev; else tail_ = b.prev;
  b.prev = b.next = -1;
  b.in_free_list = false;
  --num_free_;
}

void BlockPool::push_back(int block_id) {
  Block& b = blocks_[block_id];
  KILN_CHECK(!b.in_free_list) << "block " << block_id;
  b.prev = tail_;
  b.next = -1;
  if (tail_ >= 0) blocks_[tail_].next = block_id; else head_ = block_id;
  tail_ = block_id;
  b.in_free_list = true;
  ++num_free_;
}

void BlockPool::evict(int block_id) {
  Block& b = blocks_[block_id];
  if (!b.cached) return;
  hash_to_block_.erase(b.hash);
  b.cached = false;
  b.token_ids.clear();
  ++num_evictions_;
}

std::optional<int> BlockPool::allocate() {
  if (head_ < 0) return std::nullopt;
  const int id = head_;
  unlink(id);
  evict(id);
  blocks_[id].ref_count = 1;
  return id;
}

void BlockPool::touch(int block_id) {
  Block& b = blocks_[block_id];
  if (b.ref_count == 0) unlink(block_id);
  ++b.ref_count;
}

void BlockPool::release(int block_id) {
  Block& b = blocks_[block_id];
  KILN_CHECK(b.ref_count > 0) << "double free of block " << block_id;
  if (--b.ref_count == 0) push_back(block_id);
}

std::optional<int> BlockPool::lookup(const BlockHash& hash, const BlockHash& parent,
                                     std::span<const int32_t> token_ids) const {
  auto it = hash_to_block_.find(hash);
  if (it == hash_to_block_.end()) return std::nullopt;
  const Block& b = blocks_[it->second];
  if (!(b.parent == parent) ||
      !std::equal(b.token_ids.begin(), b.token_ids.end(), token_ids.begin(), token_ids.end())) {
    return std::nullopt;
  }
  return it->second;
}

bool BlockPool::cache(int block_id, const BlockHash& hash, const BlockHash& parent,
                      std::span<const int32_t> token_ids) {
  Block& b = blocks_[block_id];
  KILN_CHECK(b.ref_count > 0) << "caching unreferenced block " << block_id;
  KILN_CHECK_EQ(static_cast<int>(token_ids.size()), block_size_);
  if (b.cached || hash_to_block_.count(hash) > 0) return false;
  hash_to_block_.emplace(hash, block_id);
  b.cached = true;
  b.hash = hash;
  b.parent = parent;
  b.token_ids.assign(token_ids.begin(), token_ids.end());
  return true;
}

int BlockPool::ref_count(int block_id) const { return blocks_[block_id].ref_count; }
bool BlockPool::is_cached(int block_id) const { return blocks_[block_id].cached; }

std::vector<int> BlockPool::free_list() const {
  std::vector<int> out;
  for (int id = head_; id >= 0; id = blocks_[id].next) out.push_back(id);
  return out;
}

}  // namespace kiln
