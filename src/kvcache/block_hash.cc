#include "kvcache/block_hash.h"

namespace kiln {
namespace {

// The finalizer of MurmurHash3 / splitmix64: a strong 64-bit bijective mix.
uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

// One lane: a sponge-like chain over 64-bit words with a lane-specific key, so the two lanes
// behave as independent 64-bit hashes.
uint64_t lane(uint64_t key, const BlockHash& parent, std::span<const int32_t> token_ids) {
  uint64_t h = mix64(key ^ parent.hi);
  h = mix64(h ^ parent.lo ^ (key << 1));
  h = mix64(h ^ token_ids.size());
  for (int32_t token : token_ids) {
    h = mix64(h + key + static_cast<uint32_t>(token));
  }
  return h;
}

}  // namespace

BlockHash hash_block(const BlockHash& parent, std::span<const int32_t> token_ids) {
  return BlockHash{lane(0x9e3779b97f4a7c15ULL, parent, token_ids),
                   lane(0xc2b2ae3d27d4eb4fULL, parent, token_ids)};
}

}  // namespace kiln
