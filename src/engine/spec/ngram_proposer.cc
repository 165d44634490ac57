#include "engine/spec/ngram_proposer.h"

#include <algorithm>

namespace kiln {

std::vector<int32_t> find_ngram_drafts(std::span<const int32_t> tokens, int min_n, int max_n, int max_drafts) {
  const int length = static_cast<int>(tokens.size());
  if (max_drafts <= 0 || min_n < 1 || length < min_n + 1) return {};
  const int32_t last = tokens[static_cast<size_t>(length - 1)];
  int best_n = 0, best_end = -1;
  // An occurrence ending at `end` (before the suffix's own last token) matches for m tokens;
  // only the earliest of the longest counts, so a later one must be strictly longer.
  for (int end = 0; end < length - 1; ++end) {
    if (tokens[static_cast<size_t>(end)] != last) continue;
    int m = 1;
    const int limit = std::min(max_n, end + 1);
    while (m < limit && tokens[static_cast<size_t>(end - m)] == tokens[static_cast<size_t>(length - 1 - m)]) ++m;
    if (m > best_n) {
      best_n = m;
      best_end = end;
      if (m == max_n) break;  // nothing later can be longer
    }
  }
  if (best_n < min_n) return {};
  const int begin = best_end + 1;
  const int end = std::min(length, begin + max_drafts);
  return std::vector<int32_t>(tokens.begin() + begin, tokens.begin() + end);
}

DraftTree find_ngram_draft_tree(std::span<const int32_t> tokens, int min_n, int max_n, int max_drafts, int max_branches) {
  DraftTree tree;
  const int length = static_cast<int>(tokens.size());
  if (max_branches <= 1) return DraftTree::chain(find_ngram_drafts(tokens, min_n, max_n, max_drafts));
  if (max_drafts <= 0 || min_n < 1 || length < min_n + 1) return tree;
  // Every earlier occurrence of a suffix of at least min_n tokens: (match length, end).
  std::vector<std::pair<int, int>> matches;
  const int32_t last = tokens[static_cast<size_t>(length - 1)];
  for (int end = 0; end < length - 1; ++end) {
    if (tokens[static_cast<size_t>(end)] != last) continue;
    int m = 1;
    const int limit = std::min(max_n, end + 1);
    while (m < limit && tokens[static_cast<size_t>(end - m)] == tokens[static_cast<size_t>(length - 1 - m)]) ++m;
    if (m >= min_n) matches.emplace_back(m, end);
  }
  std::stable_sort(matches.begin(), matches.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  // The continuations to merge, skipping one that repeats an earlier one (or a prefix of it).
  std::vector<std::span<const int32_t>> continuations;
  for (const auto& [m, end] : matches) {
    if (static_cast<int>(continuations.size()) == max_branches) break;
    const int begin = end + 1;
    const std::span<const int32_t> next = tokens.subspan(static_cast<size_t>(begin), static_cast<size_t>(std::min(length, begin + max_drafts) - begin));
    bool repeated = false;
    for (const auto& other : continuations) {
      repeated = repeated || (next.size() <= other.size() && std::equal(next.begin(), next.end(), other.begin()));
    }
    if (!repeated) continuations.push_back(next);
  }
  // Breadth-first: every continuation gains a token per round, so the budget favours no single
  // guess's depth over the others' first tokens; continuations that agree share their nodes.
  std::vector<int> at(continuations.size(), -1);  // each continuation's last node
  for (size_t depth = 0; tree.num_nodes() < max_drafts; ++depth) {
    bool grew = false;
    for (size_t c = 0; c < continuations.size() && tree.num_nodes() < max_drafts; ++c) {
      if (depth >= continuations[c].size()) continue;
      at[c] = tree.add(at[c], continuations[c][depth]);
      grew = true;
    }
    if (!grew) break;
  }
  return tree;
}

}  // namespace kiln
