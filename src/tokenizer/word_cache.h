// A thread-safe cache of BPE results per pre-token word. Shared by all threads that encode with
// one Tokenizer, so it is split into shards with a mutex each to keep contention low.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln::tokenizer {

class WordCache {
 public:
  // Words longer than this are not cached: they are rare and would crowd the cache.
  static constexpr size_t kMaxWordBytes = 64;

  // Appends the cached ids of `word` to *ids; false when it is not cached.
  bool get(std::string_view word, std::vector<int32_t>* ids) const;
  void put(std::string_view word, const int32_t* ids, size_t num_ids);

 private:
  static constexpr size_t kNumShards = 16;
  // A full shard is emptied rather than evicted entry by entry: cheap, and a working set that
  // fits refills it quickly.
  static constexpr size_t kMaxWordsPerShard = 4096;

  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> words;
  };

  std::array<Shard, kNumShards> shards_;
};

}  // namespace kiln::tokenizer
