#include "grammar/vocabulary.h"

#include <algorithm>

namespace kiln::grammar {

std::shared_ptr<const Vocabulary> Vocabulary::create(std::vector<std::string> token_bytes,
                                                     const std::vector<int32_t>& special_ids,
                                                     std::vector<int32_t> stop_ids) {
  auto v = std::make_shared<Vocabulary>();
  const size_t n = token_bytes.size();
  v->bytes_ = std::move(token_bytes);
  v->is_text_.assign(n, 1);
  v->is_stop_.assign(n, 0);
  for (int32_t id : special_ids) {
    if (id >= 0 && static_cast<size_t>(id) < n) v->is_text_[static_cast<size_t>(id)] = 0;
  }
  std::sort(stop_ids.begin(), stop_ids.end());
  stop_ids.erase(std::unique(stop_ids.begin(), stop_ids.end()), stop_ids.end());
  for (int32_t id : stop_ids) {
    if (id < 0 || static_cast<size_t>(id) >= n) continue;
    v->is_text_[static_cast<size_t>(id)] = 0;
    v->is_stop_[static_cast<size_t>(id)] = 1;
    v->stop_ids_.push_back(id);
  }
  for (size_t i = 0; i < n; ++i) {
    if (v->bytes_[i].empty()) v->is_text_[i] = 0;
    if (v->is_text_[i]) v->sorted_ids_.push_back(static_cast<int32_t>(i));
  }
  const auto& bytes = v->bytes_;
  std::sort(v->sorted_ids_.begin(), v->sorted_ids_.end(), [&](int32_t a, int32_t b) {
    const int c = bytes[static_cast<size_t>(a)].compare(bytes[static_cast<size_t>(b)]);
    return c != 0 ? c < 0 : a < b;
  });

  v->byte_rank_.assign(n, -1);
  for (size_t k = 0; k < v->sorted_ids_.size(); ++k) v->byte_rank_[static_cast<size_t>(v->sorted_ids_[k])] = static_cast<int32_t>(k);

  // Preorder trie: a stack holds the open path; a node closes when a later token leaves it.
  auto& trie = v->trie_;
  trie.push_back(TrieNode{});
  std::vector<int32_t> path{0};
  auto close_top = [&](int32_t sorted_index) {
    const int32_t node = path.back();
    path.pop_back();
    trie[static_cast<size_t>(node)].end = static_cast<int32_t>(trie.size());
    trie[static_cast<size_t>(node)].token_end = sorted_index;
    const size_t parent = static_cast<size_t>(path.back());
    const uint8_t b = trie[static_cast<size_t>(node)].byte;
    trie[parent].below |= trie[static_cast<size_t>(node)].below;
    trie[parent].below.set(b);
    trie[parent].height = std::max(trie[parent].height, trie[static_cast<size_t>(node)].height + 1);
  };
  const std::string* previous = nullptr;
  for (size_t k = 0; k < v->sorted_ids_.size(); ++k) {
    const int32_t index = static_cast<int32_t>(k);
    const std::string& t = bytes[static_cast<size_t>(v->sorted_ids_[k])];
    v->max_token_bytes_ = std::max(v->max_token_bytes_, static_cast<int>(t.size()));
    size_t lcp = 0;
    if (previous) {
      while (lcp < t.size() && lcp < previous->size() && t[lcp] == (*previous)[lcp]) ++lcp;
    }
    while (path.size() > lcp + 1) close_top(index);
    for (size_t d = path.size() - 1; d < t.size(); ++d) {
      TrieNode node;
      node.byte = static_cast<uint8_t>(t[d]);
      node.depth = static_cast<int32_t>(d + 1);
      node.token_begin = index;
      node.here_end = index;
      path.push_back(static_cast<int32_t>(trie.size()));
      trie.push_back(node);
    }
    TrieNode& here = trie[static_cast<size_t>(path.back())];
    if (here.here_end == index) here.here_end = index + 1;
    previous = &t;
  }
  const int32_t total = static_cast<int32_t>(v->sorted_ids_.size());
  while (path.size() > 1) close_top(total);
  trie[0].end = static_cast<int32_t>(trie.size());
  trie[0].token_end = total;
  return v;
}

}  // namespace kiln::grammar
