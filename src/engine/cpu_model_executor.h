// The CPU backend behind the engine's ModelExecutor: CpuModel owns the weights' views and the
// paged KV cache; one forward per step.
#pragma once

#include <memory>
#include <vector>

#include "engine/model_executor.h"
#include "model/cpu_model.h"

namespace kiln {

class CpuModelExecutor : public ModelExecutor {
 public:
  explicit CpuModelExecutor(std::unique_ptr<CpuModel> model) : model_(std::move(model)) {}

  int vocab_size() const override { return model_->config().vocab_size; }
  Status execute(const ForwardBatch& batch, std::vector<float>* logits) override {
    return model_->forward(batch, logits);
  }
  const CpuModel& model() const { return *model_; }

 private:
  std::unique_ptr<CpuModel> model_;
};

}  // namespace kiln
