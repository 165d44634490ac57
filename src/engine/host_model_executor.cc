#include "engine/host_model_executor.h"

#include <cstddef>

namespace kiln {

void sample_on_host(const StepInput& input, const std::vector<float>& logits, int vocab_size, StepResult* result) {
  const size_t vocab = static_cast<size_t>(vocab_size);
  const size_t num_logits = input.batch.logits_indices.size();
  result->sampled.resize(input.sampling_rows.size());
  cpu::sample_rows(logits.data(), vocab_size, input.sampling_rows, input.adjustments, result->sampled.data(),
                   input.bitmasks.empty() ? nullptr : input.bitmasks.data());
  std::vector<bool> sampled(num_logits, false);
  for (const SamplingRowParams& row : input.sampling_rows) sampled[static_cast<size_t>(row.logits_row)] = true;
  result->logits.clear();
  for (size_t r = 0; r < num_logits; ++r) {
    if (sampled[r]) continue;
    result->logits.insert(result->logits.end(), logits.begin() + static_cast<std::ptrdiff_t>(r * vocab),
                          logits.begin() + static_cast<std::ptrdiff_t>((r + 1) * vocab));
  }
}

Status HostModelExecutor::launch(const StepInput& input) {
  KILN_RETURN_IF_ERROR(check_step_input(input, static_cast<int>(last_sampled_.size())));
  if (!input.bitmasks.empty() && input.bitmask_words != sampling_bitmask_words(vocab_size())) {
    return Status::error("StepInput: token masks of " + std::to_string(input.bitmask_words) + " words for a vocabulary of " +
                         std::to_string(vocab_size()));
  }
  const ForwardBatch* batch = &input.batch;
  ForwardBatch fed;
  if (!input.token_from_previous_sample.empty()) {
    fed = input.batch;
    cpu::take_sampled_tokens(input.token_from_previous_sample.data(), last_sampled_.data(), fed.num_tokens(),
                             fed.token_ids.data());
    batch = &fed;
  }
  KILN_RETURN_IF_ERROR(forward(*batch, &logits_));
  StepResult result;
  sample_on_host(input, logits_, vocab_size(), &result);
  KILN_RETURN_IF_ERROR(draft(input, *batch, &result));
  last_sampled_ = result.sampled;
  results_.push_back(std::move(result));
  return ok_status();
}

Status HostModelExecutor::collect(StepResult* result) {
  if (results_.empty()) return Status::error("collect() without a launched step");
  *result = std::move(results_.front());
  results_.pop_front();
  return ok_status();
}

}  // namespace kiln
