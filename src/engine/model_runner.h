// Turns the scheduler's plain decision for a step into the backend's StepInput (tokens,
// positions, slot mapping, block tables, which rows need logits, the sampling rows) and records,
// per sequence, which logits rows hold its next-token distribution and its prompt logprobs.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model_executor.h"
#include "engine/scheduler.h"
#include "engine/scheduler_output.h"
#include "kernels/cpu/thread_pool.h"

namespace kiln {

struct SequenceRows {
  int64_t seq_id = 0;
  int sample_row = -1;     // logits row it samples from; -1 when this step does not sample
  int sampled_index = -1;  // its entry of StepInput::sampling_rows and StepResult::sampled
  // Consecutive sampling rows (and logits rows) from those: 1, plus one per draft it verifies.
  int num_sampled_rows = 0;
  // Rows [prompt_row_begin, prompt_row_begin + num_prompt_rows) give the distributions of prompt
  // tokens first_prompt_position, first_prompt_position + 1, ...
  int prompt_row_begin = 0;
  int num_prompt_rows = 0;
  int first_prompt_position = 0;
};

struct PreparedStep {
  StepInput input;
  std::vector<SequenceRows> rows;  // in the order of SchedulerOutput::sequences
  // Per logits row: its row in StepResult::logits, or -1 when it samples.
  std::vector<int> result_logits_row;
  int num_result_logits_rows = 0;
  // A sequence that samples in this step has sampling that reads its generated tokens (the
  // penalties), so its next step needs this step's token on the host first.
  bool next_step_needs_tokens = false;
};

// Builds the step; `scheduler` supplies the sequences (tokens, block tables, sampling settings).
// A pending token (kPendingToken) at a fed position is taken from the previous step's sampled
// row its sequence's pending_sample_row names.
// `vocab_size` (the model's) sets the width of structured-output token masks; 0: the grammar
// vocabulary's. `mask_pool`, when given, writes the masks in parallel (same masks either way).
PreparedStep prepare_step(const SchedulerOutput& output, const Scheduler& scheduler, int vocab_size = 0,
                          cpu::ThreadPool* mask_pool = nullptr);

}  // namespace kiln
