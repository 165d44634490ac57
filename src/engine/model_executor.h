// The backend as the engine sees it: one call per step with the step's ForwardBatch, returning
// the logits of the rows named by batch.logits_indices. The backend owns the weights and the
// paged KV cache memory; block ids in the batch index that memory.
//
// Sampling stays outside (engine/sampler.h) so a backend only runs the model. A device backend
// that wants to sample on the device later adds that as a second entry point next to execute();
// the engine keeps calling execute() for backends that do not.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "model/forward_batch.h"

namespace kiln {

class ModelExecutor {
 public:
  virtual ~ModelExecutor() = default;
  virtual int vocab_size() const = 0;
  // Runs the model over `batch`, writing K/V of its tokens into the slots of slot_mapping, and
  // fills `logits` with [batch.logits_indices.size(), vocab_size()] f32, row-major, on the host.
  virtual Status execute(const ForwardBatch& batch, std::vector<float>* logits) = 0;
};

}  // namespace kiln
