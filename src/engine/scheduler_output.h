// The scheduler's decision for one step, as plain data: which sequences run and how many new
// tokens each, from which position. With the sequences' tokens and block tables it is all the
// ModelRunner needs to build the step's ForwardBatch.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/spec/draft_tree.h"

namespace kiln {

struct ScheduledSequence {
  int64_t seq_id = 0;
  int num_computed_tokens = 0;  // tokens already in the cache before this step
  int num_new_tokens = 0;       // tokens computed this step, from position num_computed_tokens
  // True when this step reaches the end of the sequence's known tokens, so the step's last
  // row yields the next token (false for a prefill chunk that is not the last).
  bool samples = false;
  // Speculative decoding: the last drafts.num_nodes() of the num_new_tokens are the nodes of a
  // draft tree fed after the sequence's last token (its root), in node order; the step samples a
  // row at the root and at each node, and the acceptance walk follows them
  // (engine/spec/draft_tree.h).
  DraftTree drafts;
  int num_drafts() const { return drafts.num_nodes(); }
};

struct SchedulerOutput {
  std::vector<ScheduledSequence> sequences;  // decodes first (running order), then admissions
  int total_num_tokens = 0;
  std::vector<int64_t> preempted_seq_ids;    // preempted (blocks freed) during this schedule
  std::vector<int64_t> admitted_seq_ids;     // newly admitted or resumed this step

  bool empty() const { return sequences.empty(); }
};

}  // namespace kiln
