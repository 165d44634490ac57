// The CUDA backend with --tensor-parallel-size > 1: a CudaTensorParallelModel (one GPU and one
// thread per rank, model/cuda/cuda_tensor_parallel_model.h) behind the engine's contract; rank 0
// samples and its results come back.
#pragma once

#include <memory>

#include "engine/model_executor.h"
#include "model/cuda/cuda_tensor_parallel_model.h"

namespace kiln {

class CudaTensorParallelExecutor : public ModelExecutor {
 public:
  explicit CudaTensorParallelExecutor(std::unique_ptr<cuda::CudaTensorParallelModel> model)
      : model_(std::move(model)) {}
  int vocab_size() const override { return model_->config().vocab_size; }
  Status launch(const StepInput& input) override {
    return model_->launch_sampled(input.batch, input.token_from_previous_sample, input.sampling_rows,
                                  input.adjustments, input.bitmasks);
  }
  Status collect(StepResult* result) override { return model_->collect_sampled(&result->sampled, &result->logits); }
  bool runs_asynchronously() const override { return true; }
  double device_busy_seconds() const override { return model_->busy_seconds(); }
  const cuda::CudaTensorParallelModel& model() const { return *model_; }

 private:
  std::unique_ptr<cuda::CudaTensorParallelModel> model_;
};

}  // namespace kiln
