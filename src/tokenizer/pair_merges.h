// The BPE merge table: (left id, right id) -> (rank, merged id), as an open-addressing hash
// table because encode looks a pair up for every adjacent pair of every word.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace kiln::tokenizer {

class PairMerges {
 public:
  struct Merge {
    int32_t rank = -1;  // -1: no merge for this pair
    int32_t merged_id = -1;
  };

  void reserve(size_t num_merges);
  // A pair inserted again takes the new merge (HF builds its table the same way: the last
  // occurrence of a duplicated merge wins). Returns false when the pair was already there.
  bool insert(int32_t left, int32_t right, Merge merge);
  Merge find(int32_t left, int32_t right) const {
    if (slots_.empty()) return {};
    const uint64_t key = pack(left, right);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& slot = slots_[i];
      if (slot.key == key) return slot.merge;
      if (slot.key == kEmpty) return {};
    }
  }
  size_t size() const { return size_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  struct Slot {
    uint64_t key = kEmpty;
    Merge merge;
  };
  static uint64_t pack(int32_t left, int32_t right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }
  static size_t hash(uint64_t key) {
    key *= 0x9E3779B97F4A7C15ULL;
    return static_cast<size_t>(key ^ (key >> 29));
  }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace kiln::tokenizer
