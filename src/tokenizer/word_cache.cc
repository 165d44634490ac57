#include "tokenizer/word_cache.h"

namespace kiln::tokenizer {

bool WordCache::get(std::string_view word, std::vector<int32_t>* ids) const {
  const size_t hash = Hash{}(word);
  const Shard& shard = shards_[hash % kNumShards];
  std::lock_guard<std::mutex> lock(shard.mutex);
  const auto it = shard.words.find(word);
  if (it == shard.words.end()) return false;
  ids->insert(ids->end(), it->second.begin(), it->second.end());
  return true;
}

void WordCache::put(std::string_view word, const int32_t* ids, size_t num_ids) {
  if (word.size() > kMaxWordBytes) return;
  const size_t hash = Hash{}(word);
  Shard& shard = shards_[hash % kNumShards];
  std::lock_guard<std::mutex> lock(shard.mutex);
  if (shard.words.size() >= kMaxWordsPerShard) shard.words.clear();
  shard.words.emplace(std::string(word), std::vector<int32_t>(ids, ids + num_ids));
}

}  // namespace kiln::tokenizer
