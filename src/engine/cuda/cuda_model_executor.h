// The CUDA backend behind the engine's ModelExecutor: CudaModel owns the weights and the paged
// KV cache on the GPU; one forward per step. Sampling runs on the device (execute_and_sample):
// only token ids and requested logprobs come back, plus whole logits rows for prompt logprobs.
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
  Status execute(const ForwardBatch& batch, std::vector<float>* logits) override {
    return model_->forward(batch, logits);
  }
  double device_busy_seconds() const override { return model_->busy_seconds(); }
  bool samples_on_device() const override { return true; }
  Status execute_and_sample(const ForwardBatch& batch, const DeviceSamplingBatch& sampling,
                            std::vector<float>* other_logits, std::vector<SampledRow>* sampled) override {
    return model_->forward_sampled(batch, sampling.rows, sampling.adjustments, other_logits, sampled);
  }
  const cuda::CudaModel& model() const { return *model_; }

 private:
  std::unique_ptr<cuda::CudaModel> model_;
};

}  // namespace kiln
