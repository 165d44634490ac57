// The CUDA backend behind the engine's ModelExecutor: CudaModel owns the weights and the paged
// KV cache on the GPU. launch() queues the step on the device (inputs through pinned buffers,
// the forward, sampling, the sampled rows' copy back) and returns; collect() waits for it. Only
// token ids and requested logprobs come back, plus whole logits rows for prompt logprobs.
#pragma once

#include <memory>
#include <vector>

#include "engine/model_executor.h"
#include "model/cuda/cuda_model.h"

namespace kiln {

class CudaModelExecutor : public ModelExecutor {
 public:
  explicit CudaModelExecutor(std::unique_ptr<cuda::CudaModel> model) : model_(std::move(model)) {}
  int vocab_size() const override { return model_->config().vocab_size; }
  Status launch(const StepInput& input) override {
    return model_->launch_sampled(input.batch, input.token_from_previous_sample, input.sampling_rows,
                                  input.adjustments, input.bitmasks);
  }
  Status collect(StepResult* result) override { return model_->collect_sampled(&result->sampled, &result->logits); }
  bool runs_asynchronously() const override { return true; }
  double device_busy_seconds() const override { return model_->busy_seconds(); }
  const cuda::CudaModel& model() const { return *model_; }

 private:
  std::unique_ptr<cuda::CudaModel> model_;
};

}  // namespace kiln
