// Prompt lookup decoding (vLLM's "ngram" method): the sequence's last n tokens, for the largest n
// in [min_n, max_n] that occurred earlier in its prompt or output, and the tokens that followed
// that earlier occurrence (the earliest one, as vLLM picks it) become the drafts. No model, no
// state between steps: reasoning traces and code that restate their context draft well, other
// text drafts nothing and costs only the scan. With draft trees (draft_tree_topk > 1), the
// continuations of up to that many different earlier matches (longest first, then earliest) share
// the node budget as one tree: they grow a token at a time, in turn, and merge where they agree.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/spec/draft_proposer.h"

namespace kiln {

// Up to max_drafts tokens following the earliest earlier occurrence of the longest suffix of
// `tokens` whose length lies in [min_n, max_n]; empty when none occurs. The continuation stops at
// the end of `tokens`.
std::vector<int32_t> find_ngram_drafts(std::span<const int32_t> tokens, int min_n, int max_n, int max_drafts);

// The tree of the continuations of up to max_branches earlier occurrences of suffixes of `tokens`
// with lengths in [min_n, max_n] (longest first, then earliest; an occurrence whose continuation
// the tree holds already is skipped), filled breadth-first up to max_drafts nodes. With
// max_branches 1: the chain of find_ngram_drafts.
DraftTree find_ngram_draft_tree(std::span<const int32_t> tokens, int min_n, int max_n, int max_drafts, int max_branches);

class NgramProposer : public DraftProposer {
 public:
  NgramProposer(int min_n, int max_n) : min_n_(min_n), max_n_(max_n) {}
  void propose(const DraftContext& context, DraftTree* drafts) override {
    *drafts = find_ngram_draft_tree(context.tokens, min_n_, max_n_, context.max_drafts, context.max_branches);
  }

 private:
  int min_n_, max_n_;
};

}  // namespace kiln
