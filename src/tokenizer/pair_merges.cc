#include "tokenizer/pair_merges.h"

#include <algorithm>
#include <bit>

namespace kiln::tokenizer {

void PairMerges::reserve(size_t num_merges) {
  // Load factor at most 1/2 keeps probe chains short.
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, num_merges * 2));
  if (capacity <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  size_ = 0;
  for (const Slot& slot : old) {
    if (slot.key != kEmpty) {
      insert(static_cast<int32_t>(slot.key >> 32), static_cast<int32_t>(slot.key & 0xFFFFFFFF),
             slot.merge);
    }
  }
}

bool PairMerges::insert(int32_t left, int32_t right, Merge merge) {
  if ((size_ + 1) * 2 > slots_.size()) reserve(size_ + 1);
  const uint64_t key = pack(left, right);
  for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.key == key) {
      slot.merge = merge;
      return false;
    }
    if (slot.key == kEmpty) {
      slot.key = key;
      slot.merge = merge;
      ++size_;
      return true;
    }
  }
}

}  // namespace kiln::tokenizer
