// The CUDA backend behind the engine's ModelExecutor: CudaModel owns the weights and the paged
// KV cache on the GPU; one forward per step, logits of the sampled rows copied to the host.
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
  const cuda::CudaModel& model() const { return *model_; }

 private:
  std::unique_ptr<cuda::CudaModel> model_;
};

}  // namespace kiln
