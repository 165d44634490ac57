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
  void set(int64_t seq_id, std::vector<int32_t> drafts) { drafts_[seq_id] = std::move(drafts); }

  void propose(const DraftContext& context, DraftTree* drafts) override {
    drafts->clear();
    const auto it = drafts_.find(context.seq_id);
    if (it == drafts_.end()) return;
    *drafts = DraftTree::chain(it->second);
    drafts_.erase(it);
    drafts->truncate(context.max_drafts);
  }
  void on_finished(const DraftContext& context, bool completed) override {
    (void)completed;
    drafts_.erase(context.seq_id);
  }

 private:
  std::unordered_map<int64_t, std::vector<int32_t>> drafts_;
};

}  // namespace kiln
