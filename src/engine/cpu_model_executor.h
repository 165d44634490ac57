// The CPU backend behind the engine's ModelExecutor: CpuModel owns the weights' views and the
// paged KV cache; one forward per step (host_model_executor.h runs the step and samples).
#pragma once

#include <memory>
#include <vector>

#include "engine/host_model_executor.h"
#include "model/cpu_model.h"

namespace kiln {

class CpuModelExecutor : public HostModelExecutor {
 public:
  explicit CpuModelExecutor(std::unique_ptr<CpuModel> model) : model_(std::move(model)) {}

  int vocab_size() const override { return model_->config().vocab_size; }
  const CpuModel& model() const { return *model_; }

 protected:
  Status forward(const ForwardBatch& batch, std::vector<float>* logits) override {
    return model_->forward(batch, logits);
  }

 private:
  std::unique_ptr<CpuModel> model_;
};

}  // namespace kiln
