#include "engine/cpu_model_executor.h"

#include <span>
#include <string>

#include "engine/spec/draft_tree.h"

namespace kiln {

Status CpuModelExecutor::draft(const StepInput& input, const ForwardBatch& batch, StepResult* result) {
  if (drafter_ == nullptr) return ok_status();
  for (int64_t seq_id : input.released_seq_ids) drafter_->release(seq_id);
  if (input.draft_sequences.empty()) return ok_status();
  std::vector<Eagle3StepSequence> sequences;
  sequences.reserve(input.draft_sequences.size());
  for (const BackendDraftSequence& d : input.draft_sequences) {
    if (d.batch_index < 0 || d.batch_index >= batch.num_seqs()) {
      return Status::error("StepInput: draft sequence " + std::to_string(d.seq_id) + " names batch sequence " +
                           std::to_string(d.batch_index) + " of " + std::to_string(batch.num_seqs()));
    }
    Eagle3StepSequence s;
    s.seq_id = d.seq_id;
    s.first_row = batch.query_start[static_cast<size_t>(d.batch_index)];
    s.num_rows = batch.query_start[static_cast<size_t>(d.batch_index) + 1] - s.first_row;
    for (int r = 0; r < s.num_rows; ++r) s.kept_rows.push_back(r);
    s.num_drafts = d.num_drafts;
    s.max_branches = d.max_branches;
    if (d.sampled_index >= 0) {
      const int num_verified = d.num_verified_drafts;
      if (num_verified < 0 || num_verified >= s.num_rows ||
          d.sampled_index + num_verified >= static_cast<int>(result->sampled.size())) {
        return Status::error("StepInput: draft sequence " + std::to_string(d.seq_id) + " verifies " +
                             std::to_string(num_verified) + " drafts outside its rows");
      }
      // The verified nodes are the sequence's last rows, after their root; the acceptance walk
      // over their sampled rows keeps the root, the accepted path and the token after it.
      const int root = s.num_rows - 1 - num_verified;
      DraftTree tree;
      for (int n = 0; n < num_verified; ++n) {
        const size_t row = static_cast<size_t>(s.first_row + root + 1 + n);
        tree.tokens.push_back(batch.token_ids[row]);
        tree.parents.push_back(batch.tree_parents.empty() ? n - 1 : batch.tree_parents[row] - root - 1);
      }
      if (*draft_tree_error(tree) != '\0') {
        return Status::error("StepInput: draft sequence " + std::to_string(d.seq_id) + ": " + draft_tree_error(tree));
      }
      const std::span<const SampledRow> rows(result->sampled.data() + d.sampled_index, static_cast<size_t>(num_verified) + 1);
      const std::vector<int> path = accept_draft_tree(tree, rows);
      s.kept_rows.resize(static_cast<size_t>(root) + 1);
      for (int node : path) s.kept_rows.push_back(root + 1 + node);
      s.next_token = rows[path.empty() ? 0 : static_cast<size_t>(path.back()) + 1].token_id;
      if (s.next_token < 0) {  // a failed row (no allowed token): its sequence ends
        s.next_token = -1;
        s.num_drafts = 0;
      }
    }
    sequences.push_back(s);
  }
  std::vector<Eagle3Draft> drafts;
  KILN_RETURN_IF_ERROR(drafter_->step(batch, model_->captured_hidden().data(), sequences, &drafts));
  result->drafts.clear();
  for (Eagle3Draft& draft : drafts) {
    DraftTree tree;
    tree.tokens = std::move(draft.tokens);
    tree.parents = std::move(draft.parents);
    result->drafts.push_back(std::move(tree));
  }
  return ok_status();
}

}  // namespace kiln
