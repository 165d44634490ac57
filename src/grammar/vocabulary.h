// The tokenizer's vocabulary as the grammar layer sees it: the bytes each token id writes, the
// control tokens that are never text (never allowed by a grammar), and the tokens that end
// generation (allowed once the grammar is complete). Text tokens sorted by their bytes form a
// trie, stored in preorder, that the token classifier walks depth first, skipping whole subtrees
// once a prefix is decided.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "grammar/automaton.h"

namespace kiln::grammar {

// One cache line per node: the walk touches a node and its subtree's byte set together.
struct alignas(64) TrieNode {
  ByteSet below;            // bytes in this node's descendants (not on its own edge)
  int32_t end = 0;          // preorder index just past this node's subtree
  int32_t token_begin = 0;  // this subtree's tokens: sorted_ids()[token_begin, token_end)
  int32_t token_end = 0;
  int32_t here_end = 0;     // tokens that end exactly here: sorted_ids()[token_begin, here_end)
  int32_t depth = 0;        // bytes from the root
  int32_t height = 0;       // bytes below this node to its deepest token
  uint8_t byte = 0;         // the byte leading here from the parent
};

class Vocabulary {
 public:
  // token_bytes[id]: what the token writes (empty: never produced as text). special_ids: control
  // tokens (BOS, chat markers) that a grammar never allows. stop_ids: tokens that end generation.
  static std::shared_ptr<const Vocabulary> create(std::vector<std::string> token_bytes,
                                                  const std::vector<int32_t>& special_ids,
                                                  std::vector<int32_t> stop_ids);

  int size() const { return static_cast<int>(bytes_.size()); }
  // 32-bit words of one row of token bitmask: ceil(size / 32).
  int bitmask_words() const { return (size() + 31) / 32; }
  const std::string& bytes(int32_t id) const { return bytes_[static_cast<size_t>(id)]; }
  const std::vector<int32_t>& stop_ids() const { return stop_ids_; }
  bool is_stop(int32_t id) const { return id >= 0 && id < size() && is_stop_[static_cast<size_t>(id)]; }
  // Written as text by a grammar: not special, not a stop token, not empty.
  bool is_text(int32_t id) const { return id >= 0 && id < size() && is_text_[static_cast<size_t>(id)]; }

  const std::vector<int32_t>& sorted_ids() const { return sorted_ids_; }
  // Position of a text token in sorted_ids() (the byte order).
  int32_t byte_rank(int32_t id) const { return byte_rank_[static_cast<size_t>(id)]; }
  // Preorder trie; node 0 is the root (the empty prefix).
  const std::vector<TrieNode>& trie() const { return trie_; }
  // Whether every byte below `node` (in its descendants, not on its own edge) is in `set`.
  bool subtree_bytes_within(int32_t node, const ByteSet& set) const {
    return trie_[static_cast<size_t>(node)].below.subset_of(set);
  }
  int max_token_bytes() const { return max_token_bytes_; }

 private:
  std::vector<std::string> bytes_;
  std::vector<uint8_t> is_text_;
  std::vector<uint8_t> is_stop_;
  std::vector<int32_t> stop_ids_;
  std::vector<int32_t> sorted_ids_;
  std::vector<int32_t> byte_rank_;
  std::vector<TrieNode> trie_;
  int max_token_bytes_ = 0;
};

}  // namespace kiln::grammar
