#include "engine/spec/draft_tree.h"

#include <algorithm>

#include "base/check.h"

namespace kiln {

bool DraftTree::is_chain() const {
  for (int i = 0; i < num_nodes(); ++i) {
    if (parents[static_cast<size_t>(i)] != i - 1) return false;
  }
  return true;
}

int DraftTree::depth(int node) const {
  int d = 0;
  for (int i = node; i >= 0; i = parents[static_cast<size_t>(i)]) ++d;
  return d;
}

void DraftTree::truncate(int n) {
  if (n >= num_nodes()) return;
  tokens.resize(static_cast<size_t>(std::max(0, n)));
  parents.resize(tokens.size());
}

int DraftTree::add(int parent, int32_t token) {
  for (int i = parent + 1; i < num_nodes(); ++i) {
    if (parents[static_cast<size_t>(i)] == parent && tokens[static_cast<size_t>(i)] == token) return i;
  }
  tokens.push_back(token);
  parents.push_back(parent);
  return num_nodes() - 1;
}

int DraftTree::first_child(int node) const {
  for (int i = node + 1; i < num_nodes(); ++i) {
    if (parents[static_cast<size_t>(i)] == node) return i;
  }
  return -1;
}

DraftTree DraftTree::chain(std::span<const int32_t> drafts) {
  DraftTree tree;
  tree.tokens.assign(drafts.begin(), drafts.end());
  tree.parents.resize(drafts.size());
  for (size_t i = 0; i < drafts.size(); ++i) tree.parents[i] = static_cast<int32_t>(i) - 1;
  return tree;
}

const char* draft_tree_error(const DraftTree& tree) {
  if (tree.parents.size() != tree.tokens.size()) return "parents and tokens differ in length";
  for (int i = 0; i < tree.num_nodes(); ++i) {
    const int parent = tree.parents[static_cast<size_t>(i)];
    if (parent < -1 || parent >= i) return "a node's parent does not precede it";
    for (int j = parent + 1; j < i; ++j) {
      if (tree.parents[static_cast<size_t>(j)] == parent && tree.tokens[static_cast<size_t>(j)] == tree.tokens[static_cast<size_t>(i)]) {
        return "two siblings draft the same token";
      }
    }
  }
  return "";
}

std::vector<int> accept_draft_tree(const DraftTree& tree, std::span<const SampledRow> rows) {
  KILN_CHECK_EQ(rows.size(), static_cast<size_t>(tree.num_nodes()) + 1);
  std::vector<int> path;
  int node = -1;
  while (true) {
    const int32_t sampled = rows[static_cast<size_t>(node + 1)].token_id;
    int next = -1;
    // Children come after their parent; siblings differ, so at most one matches.
    for (int i = node + 1; i < tree.num_nodes(); ++i) {
      if (tree.parents[static_cast<size_t>(i)] == node && tree.tokens[static_cast<size_t>(i)] == sampled) {
        next = i;
        break;
      }
    }
    if (next < 0) return path;
    path.push_back(next);
    node = next;
  }
}

std::vector<std::pair<int, int>> accepted_kv_moves(int root_position, std::span<const int> path) {
  std::vector<std::pair<int, int>> moves;
  for (size_t j = 0; j < path.size(); ++j) {
    KILN_CHECK_LE(static_cast<int>(j), path[j]);
    if (path[j] != static_cast<int>(j)) moves.emplace_back(root_position + 1 + path[j], root_position + 1 + static_cast<int>(j));
  }
  return moves;
}

}  // namespace kiln
