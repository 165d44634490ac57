// Turns the scheduler's plain decision for a step into the backend's ForwardBatch (tokens,
// positions, slot mapping, block tables, which rows need logits) and records, per sequence,
// which logits rows hold its next-token distribution and its prompt logprobs.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/scheduler.h"
#include "engine/scheduler_output.h"
#include "model/forward_batch.h"

namespace kiln {

struct SequenceRows {
  int64_t seq_id = 0;
  int sample_row = -1;  // logits row to sample from; -1 when this step does not sample
  // Rows [prompt_row_begin, prompt_row_begin + num_prompt_rows) give the distributions of prompt
  // tokens first_prompt_position, first_prompt_position + 1, ...
  int prompt_row_begin = 0;
  int num_prompt_rows = 0;
  int first_prompt_position = 0;
};

struct PreparedStep {
  ForwardBatch batch;
  std::vector<SequenceRows> rows;  // in the order of SchedulerOutput::sequences
};

// Builds the step; `scheduler` supplies the sequences' tokens and block tables.
PreparedStep prepare_step(const SchedulerOutput& output, const Scheduler& scheduler);

}  // namespace kiln
