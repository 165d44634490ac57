// The CPU backend with --tensor-parallel-size > 1: a CpuTensorParallelModel (one rank per
// thread, model/cpu_tensor_parallel_model.h) behind the same host executor as the whole model,
// which samples once, from the logits rank 0 gathers.
#pragma once

#include <memory>
#include <vector>

#include "engine/host_model_executor.h"
#include "model/cpu_tensor_parallel_model.h"

namespace kiln {

class CpuTensorParallelExecutor : public HostModelExecutor {
 public:
  explicit CpuTensorParallelExecutor(std::unique_ptr<CpuTensorParallelModel> model) : model_(std::move(model)) {}

  int vocab_size() const override { return model_->config().vocab_size; }
  const CpuTensorParallelModel& model() const { return *model_; }

 protected:
  Status forward(const ForwardBatch& batch, std::vector<float>* logits) override {
    return model_->forward(batch, logits);
  }

 private:
  std::unique_ptr<CpuTensorParallelModel> model_;
};

}  // namespace kiln
