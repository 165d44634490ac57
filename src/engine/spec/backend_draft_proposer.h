// Drafts made by the backend (EAGLE-3: the head runs where the target's hidden states are, right
// after a step samples) reach the engine in StepResult::drafts; this proposer hands each
// sequence the drafts its last step produced, so the Speculator treats them as any method's
// (trimmed to the sequence's room, counted, verified by the next step).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "engine/spec/draft_proposer.h"

namespace kiln {

class BackendDraftProposer : public DraftProposer {
 public:
  // The drafts the backend made for `seq_id` in the step just collected.
  void set(int64_t seq_id, DraftTree drafts) { drafts_[seq_id] = std::move(drafts); }

  void propose(const DraftContext& context, DraftTree* drafts) override {
    drafts->clear();
    const auto it = drafts_.find(context.seq_id);
    if (it == drafts_.end()) return;
    // Rebuilt node by node: siblings that map to the same target token merge (the backend checks
    // nothing of the tree's shape), and only nodes whose parents are kept stay.
    const DraftTree& made = it->second;
    std::vector<int> index(static_cast<size_t>(made.num_nodes()), -1);
    for (int i = 0; i < made.num_nodes() && drafts->num_nodes() < context.max_drafts; ++i) {
      const int parent = made.parents[static_cast<size_t>(i)];
      if (parent >= i || (parent >= 0 && index[static_cast<size_t>(parent)] < 0)) continue;
      index[static_cast<size_t>(i)] = drafts->add(parent < 0 ? -1 : index[static_cast<size_t>(parent)], made.tokens[static_cast<size_t>(i)]);
    }
    drafts_.erase(it);
  }
  void on_finished(const DraftContext& context, bool completed) override {
    (void)completed;
    drafts_.erase(context.seq_id);
  }

 private:
  std::unordered_map<int64_t, DraftTree> drafts_;
};

}  // namespace kiln
