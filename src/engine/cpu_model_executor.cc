#include "engine/cpu_model_executor.h"

#include <string>

namespace kiln {

Status CpuModelExecutor::draft(const StepInput& input, const ForwardBatch& batch, StepResult* result) {
  if (drafter_ == nullptr) return ok_status();
  for (int64_t seq_id : input.released_seq_ids) drafter_->release(seq_id);
  if (input.draft_sequences.empty()) return ok_status();
  // The head reads the kept rows as consecutive positions: its drafts are chains (the config
  // refuses draft_tree_topk above 1 for eagle3).
  if (!batch.tree_parents.empty()) return Status::error("StepInput: EAGLE-3 drafting over a step that feeds draft trees");
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
    s.num_kept_rows = s.num_rows;
    s.num_drafts = d.num_drafts;
    if (d.sampled_index >= 0) {
      const int num_verified = d.num_verified_drafts;
      if (num_verified < 0 || num_verified >= s.num_rows ||
          d.sampled_index + num_verified >= static_cast<int>(result->sampled.size())) {
        return Status::error("StepInput: draft sequence " + std::to_string(d.seq_id) + " verifies " +
                             std::to_string(num_verified) + " drafts outside its rows");
      }
      // Row j verified the draft fed after it; the first mismatch ends the kept tokens and its
      // row's token follows them.
      const int first_draft_row = s.first_row + s.num_rows - num_verified;
      int accepted = 0;
      while (accepted < num_verified &&
             result->sampled[static_cast<size_t>(d.sampled_index + accepted)].token_id ==
                 batch.token_ids[static_cast<size_t>(first_draft_row + accepted)]) {
        ++accepted;
      }
      s.num_kept_rows = s.num_rows - num_verified + accepted;
      s.next_token = result->sampled[static_cast<size_t>(d.sampled_index + accepted)].token_id;
      if (s.next_token < 0) {  // a failed row (no allowed token): its sequence ends
        s.next_token = -1;
        s.num_drafts = 0;
      }
    }
    sequences.push_back(s);
  }
  return drafter_->step(batch, model_->captured_hidden().data(), sequences, &result->drafts);
}

}  // namespace kiln
