// The scheduler's decision for one step, as plain data: which sequences run and how many new
// tokens each, from which position. With the sequences' tokens and block tables it is all the
// ModelRunner needs to build the step's ForwardBatch.
#pragma once

#include <cstdint>
#include <vector>

namespace kiln {

struct ScheduledSequence {
  int64_t seq_id = 0;
  int num_computed_tokens = 0;  // tokens already in the cache before this step
  int num_new_tokens = 0;       // tokens computed this step, from position num_computed_tokens
  // True when this step reaches the end of the sequence's known tokens, so the step's last
  // row yields the next token (false for a prefill chunk that is not the last).
  bool samples = false;
  // Speculative decoding: the last draft_token_ids.size() of the num_new_tokens are drafts fed
  // after the sequence's last token; the step samples a row at the last token and at each draft,
  // and each row verifies the draft after it (engine/spec/speculator.h).
  std::vector<int32_t> draft_token_ids;
  int num_drafts() const { return static_cast<int>(draft_token_ids.size()); }
};

struct SchedulerOutput {
  std::vector<ScheduledSequence> sequences;  // decodes first (running order), then admissions
  int total_num_tokens = 0;
  std::vector<int64_t> preempted_seq_ids;    // preempted (blocks freed) during this schedule
  std::vector<int64_t> admitted_seq_ids;     // newly admitted or resumed this step

  bool empty() const { return sequences.empty(); }
};

}  // namespace kiln
