// A source of draft tokens that runs on the host after a step's tokens are applied (n-gram,
// suffix decoding, the benchmark oracle). Model-based drafts (EAGLE-3) come from the backend
// instead, next to the hidden states they need.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/spec/draft_tree.h"

namespace kiln {

// What a proposer sees of one sequence.
struct DraftContext {
  int64_t seq_id = 0;
  std::span<const int32_t> tokens;  // prompt then output, every id known
  int num_prompt_tokens = 0;
  int max_drafts = 0;  // propose at most this many tokens (tree nodes)
  // The most children a node of the draft tree may have; 1: a chain.
  int max_branches = 1;
};

class DraftProposer {
 public:
  virtual ~DraftProposer() = default;
  // Replaces `drafts` with a tree (engine/spec/draft_tree.h) of up to context.max_drafts tokens
  // guessed to follow context.tokens, at most context.max_branches children per node (empty when
  // it has no guess). A method that guesses one continuation drafts a chain.
  virtual void propose(const DraftContext& context, DraftTree* drafts) = 0;
  // The sequence ended (any reason): the proposer drops what it kept for it; `completed` is
  // true for a normal end (stop or length), whose output may inform later drafts.
  virtual void on_finished(const DraftContext& context, bool completed) {
    (void)context;
    (void)completed;
  }
};

}  // namespace kiln
