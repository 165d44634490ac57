// A sequence's drafts for one step: a small tree of candidate tokens rooted at the sequence's last
// token. A chain of k drafts is the tree where each node's parent is the node before it, so every
// method (one continuation or several) goes through the same verify path: the step feeds the
// root and every node, each node at position root + depth and in the slot of position root +
// 1 + its index; attention lets each node see the cached prefix and its own ancestors only
// (ForwardBatch::tree_parents); the sampling operator samples one row per node, exactly as plain
// decoding would sample that position after the node's path; and the acceptance walk below keeps
// the path the samples follow.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "kernels/sampling.h"

namespace kiln {

struct DraftTree {
  std::vector<int32_t> tokens;   // [num_nodes] each node's drafted token
  // [num_nodes] each node's parent: an earlier node's index, or -1 for a child of the root (the
  // sequence's last token). Siblings carry different tokens.
  std::vector<int32_t> parents;

  int num_nodes() const { return static_cast<int>(tokens.size()); }
  bool empty() const { return tokens.empty(); }
  void clear() {
    tokens.clear();
    parents.clear();
  }
  // Every node's parent is the node before it (a chain of drafts).
  bool is_chain() const;
  // The depth of node i (1 for a child of the root): its position after the root's.
  int depth(int node) const;
  // The tree of nodes 0..n-1 (parents precede children, so a prefix is a tree).
  void truncate(int n);
  // Adds a node and returns its index; a child of `parent` with the same token is returned
  // instead of a duplicate.
  int add(int parent, int32_t token);
  // The first child of `node` (-1: the root), or -1 when it has none.
  int first_child(int node) const;

  static DraftTree chain(std::span<const int32_t> tokens);
};

// Empty when `tree` is well formed (parents precede their children, siblings differ); otherwise
// what is wrong, for an error or a check.
const char* draft_tree_error(const DraftTree& tree);

// The acceptance walk. rows[0] is the root's sampled row and rows[1 + i] node i's (each sampled as
// plain decoding samples that position after the node's path). From the root, while the row's
// token is one of the node's children's, the walk descends into that child; the first row whose
// token is no child's gives the bonus token. Returns the accepted nodes in path order.
//
// This preserves the target's distribution exactly for drafts chosen deterministically from the
// context (n-gram and suffix candidates, EAGLE's top-k): it is rejection sampling with a one-hot
// draft distribution per child. The row is a draw from the target p at that position whatever
// the drafts; it continues the path through the child that equals it (probability p(child)) and
// otherwise ends it with itself, so every emitted token is a draw from p given the tokens before
// it, as plain decoding's is. Proposing several children only adds ways to continue. (A row may
// also walk its first child's token first, kernels/sampling.h; the token is still a draw from p.)
std::vector<int> accept_draft_tree(const DraftTree& tree, std::span<const SampledRow> rows);

// The K/V moves that bring the accepted nodes' entries to the sequence's consecutive positions:
// node `path[j]` was written to the slot of position root_position + 1 + path[j] and belongs at
// root_position + 1 + j. Pairs (from, to) of positions, to be done in order (each `from` is at or
// past every earlier `to`, so no move reads an entry an earlier one wrote); none for a chain.
std::vector<std::pair<int, int>> accepted_kv_moves(int root_position, std::span<const int> path);

}  // namespace kiln
