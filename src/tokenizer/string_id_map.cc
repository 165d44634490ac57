#include "tokenizer/string_id_map.h"

#include <algorithm>
#include <bit>

namespace kiln::tokenizer {

void StringIdMap::reserve(size_t num_keys) {
  // Load factor at most 1/2.
  const size_t capacity = std::bit_ceil(std::max<size_t>(16, num_keys * 2));
  if (capacity <= slots_.size()) return;
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(capacity, Slot{});
  mask_ = capacity - 1;
  for (const Slot& slot : old) {
    if (slot.id < 0) continue;
    for (size_t i = slot.hash & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].id < 0) {
        slots_[i] = slot;
        break;
      }
    }
  }
}

bool StringIdMap::insert(std::string_view key, int32_t id) {
  if ((size_ + 1) * 2 > slots_.size()) reserve(size_ + 1);
  const uint64_t hash = hash_of(key);
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    Slot& slot = slots_[i];
    if (slot.id < 0) {
      slot = {hash, key.data(), static_cast<uint32_t>(key.size()), id};
      ++size_;
      return true;
    }
    if (slot.hash == hash && slot.size == key.size() &&
        std::memcmp(slot.data, key.data(), key.size()) == 0) {
      return false;
    }
  }
}

}  // namespace kiln::tokenizer
