// The identity of a full KV block for automatic prefix caching: a 128-bit hash chained over the
// parent block's hash and this block's token ids, so equal hashes mean equal whole prefixes.
// 128 bits make an accidental collision negligible; the pool also keeps each cached block's
// parent hash and token ids and verifies them on lookup, so a hit never serves wrong K/V for
// this block's own tokens.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kiln {

struct BlockHash {
  uint64_t hi = 0;
  uint64_t lo = 0;
  bool operator==(const BlockHash&) const = default;
};

// The parent of a sequence's first block.
inline constexpr BlockHash kRootBlockHash{0x6b696c6e2d726f6fULL, 0x742d626c6f636b00ULL};

BlockHash hash_block(const BlockHash& parent, std::span<const int32_t> token_ids);

struct BlockHashHasher {
  size_t operator()(const BlockHash& h) const { return static_cast<size_t>(h.hi ^ (h.lo * 31)); }
};

}  // namespace kiln
