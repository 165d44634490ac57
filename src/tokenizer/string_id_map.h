// A flat open-addressing hash map from strings to ids. It holds views: the strings must stay
// where they are (not moved) for the map's lifetime. Used for the vocabulary lookups on the
// encode hot path and for the 280k merge lookups at load, where std::unordered_map's node per
// entry costs a cache miss per probe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string_view>
#include <vector>

namespace kiln::tokenizer {

class StringIdMap {
 public:
  void reserve(size_t num_keys);
  // Keeps the first id of a key inserted twice; returns false then.
  bool insert(std::string_view key, int32_t id);
  // The id of `key`, or -1.
  int32_t find(std::string_view key) const {
    if (slots_.empty()) return -1;
    const uint64_t hash = hash_of(key);
    for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.id < 0) return -1;
      if (slot.hash == hash && slot.size == key.size() &&
          std::memcmp(slot.data, key.data(), key.size()) == 0) {
        return slot.id;
      }
    }
  }
  size_t size() const { return size_; }

 private:
  struct Slot {
    uint64_t hash = 0;
    const char* data = nullptr;
    uint32_t size = 0;
    int32_t id = -1;  // -1: empty
  };
  static uint64_t hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace kiln::tokenizer
