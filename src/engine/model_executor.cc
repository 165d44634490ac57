#include "engine/model_executor.h"

#include <string>

namespace kiln {

Status check_step_input(const StepInput& input, int num_previous_sampled) {
  const ForwardBatch& b = input.batch;
  const int num_logits = static_cast<int>(b.logits_indices.size());
  int previous = -1;
  for (const SamplingRowParams& row : input.sampling_rows) {
    if (row.logits_row <= previous || row.logits_row >= num_logits) {
      return Status::error("StepInput: sampling row " + std::to_string(row.logits_row) +
                           " is out of order or outside the step's " + std::to_string(num_logits) + " logits rows");
    }
    previous = row.logits_row;
    if (row.adjustments_begin < 0 || row.num_adjustments < 0 ||
        static_cast<size_t>(row.adjustments_begin) + static_cast<size_t>(row.num_adjustments) >
            input.adjustments.size()) {
      return Status::error("StepInput: a sampling row's adjustments lie outside the adjustments array");
    }
    if (!row.greedy && !(row.temperature > 0.0f)) {
      return Status::error("StepInput: a non-greedy sampling row needs a positive temperature");
    }
    if (row.bitmask_row >= 0 &&
        (input.bitmask_words <= 0 ||
         (static_cast<size_t>(row.bitmask_row) + 1) * static_cast<size_t>(input.bitmask_words) > input.bitmasks.size())) {
      return Status::error("StepInput: a sampling row's token mask lies outside the bitmasks array");
    }
  }
  const std::vector<int32_t>& sources = input.token_from_previous_sample;
  if (sources.empty()) return ok_status();
  if (sources.size() != b.token_ids.size()) {
    return Status::error("StepInput: token_from_previous_sample has " + std::to_string(sources.size()) +
                         " entries for " + std::to_string(b.token_ids.size()) + " tokens");
  }
  for (int32_t source : sources) {
    if (source >= num_previous_sampled) {
      return Status::error("StepInput: a token comes from sampled row " + std::to_string(source) +
                           " but the previous step sampled " + std::to_string(num_previous_sampled));
    }
  }
  return ok_status();
}

}  // namespace kiln
