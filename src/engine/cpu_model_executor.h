// The CPU backend behind the engine's ModelExecutor: CpuModel owns the weights' views and the
// paged KV cache; one forward per step (host_model_executor.h runs the step and samples). With an
// EAGLE-3 drafter, the model keeps the hidden states the head reads and the drafter drafts right
// after each step samples (model/cpu_eagle3_drafter.h).
#pragma once

#include <memory>
#include <vector>

#include "engine/host_model_executor.h"
#include "model/cpu_eagle3_drafter.h"
#include "model/cpu_model.h"

namespace kiln {

class CpuModelExecutor : public HostModelExecutor {
 public:
  // `drafter` (optional) needs a model created with its head's capture_layer_inputs; `head` keeps
  // the checkpoint its weights view mapped.
  explicit CpuModelExecutor(std::unique_ptr<CpuModel> model, std::unique_ptr<CpuEagle3Drafter> drafter = nullptr,
                            std::unique_ptr<LoadedEagle3Head> head = nullptr)
      : model_(std::move(model)), head_(std::move(head)), drafter_(std::move(drafter)) {}

  int vocab_size() const override { return model_->config().vocab_size; }
  const CpuModel& model() const { return *model_; }
  const CpuEagle3Drafter* drafter() const { return drafter_.get(); }

 protected:
  Status forward(const ForwardBatch& batch, std::vector<float>* logits) override {
    return model_->forward(batch, logits);
  }
  Status draft(const StepInput& input, const ForwardBatch& batch, StepResult* result) override;

 private:
  std::unique_ptr<CpuModel> model_;
  std::unique_ptr<LoadedEagle3Head> head_;
  std::unique_ptr<CpuEagle3Drafter> drafter_;  // reads head_'s weights: destroyed first
};

}  // namespace kiln
