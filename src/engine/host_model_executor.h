// A backend whose forward pass runs on the host and returns logits (the CPU model; the fake model
// of the tests): launch() runs the whole step, feeding it the previous step's sampled tokens
// where asked, then samples with the sampling operator's CPU twin (kernels/sampling.h), so the
// host and the GPU sample alike. Results wait in launch order for collect().
#pragma once

#include <deque>
#include <vector>

#include "engine/model_executor.h"

namespace kiln {

class HostModelExecutor : public ModelExecutor {
 public:
  Status launch(const StepInput& input) final;
  Status collect(StepResult* result) final;

 protected:
  // Runs the model over `batch` (every token id known), writing its K/V into the batch's slots;
  // logits: [batch.logits_indices.size(), vocab_size()] f32.
  virtual Status forward(const ForwardBatch& batch, std::vector<float>* logits) = 0;
  // After the step sampled: a backend with a draft model drafts for input.draft_sequences
  // (result->drafts) from what the forward over `batch` (every token id known) left behind.
  virtual Status draft(const StepInput& input, const ForwardBatch& batch, StepResult* result) {
    (void)input;
    (void)batch;
    (void)result;
    return ok_status();
  }

 private:
  std::deque<StepResult> results_;        // launched, not collected
  std::vector<SampledRow> last_sampled_;  // the last launched step's samples: the next may feed from them
  std::vector<float> logits_;             // of the step being run
};

// Runs the sampling operator's CPU twin over a step's `logits` ([logits rows, vocab] f32) and fills
// `result` with the sampled rows and the whole rows that do not sample.
void sample_on_host(const StepInput& input, const std::vector<float>& logits, int vocab_size, StepResult* result);

}  // namespace kiln
