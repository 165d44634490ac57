// The backend as the engine sees it: one call per step with the step's ForwardBatch, returning
// the logits of the rows named by batch.logits_indices. The backend owns the weights and the
// paged KV cache memory; block ids in the batch index that memory.
//
// Sampling stays in the engine (engine/sampler.h) for backends that only run the model. A device
// backend also offers execute_and_sample(): the rows that sample are drawn on the device by the
// sampling operator (kernels/sampling.h) and only their token ids and requested logprobs come
// back; the logits of the other rows (prompt logprobs) still come back whole.
//
// A backend whose steps run on an asynchronous device queue may split execute_and_sample() in
// two (launches_async): launch_and_sample() queues the step and returns, collect_sampled() waits
// for it. The engine then detokenizes and emits the previous step's tokens while the device
// computes, instead of leaving the device idle meanwhile.
#pragma once

#include <cstdint>
#include <vector>

#include "base/status.h"
#include "kernels/sampling.h"
#include "model/forward_batch.h"

namespace kiln {

struct DeviceSamplingBatch {
  // One per sampled row, logits_row indexing batch.logits_indices, ascending.
  std::vector<SamplingRowParams> rows;
  std::vector<LogitAdjustment> adjustments;  // the rows' ranges of it
};

class ModelExecutor {
 public:
  virtual ~ModelExecutor() = default;
  virtual int vocab_size() const = 0;
  // Runs the model over `batch`, writing K/V of its tokens into the slots of slot_mapping, and
  // fills `logits` with [batch.logits_indices.size(), vocab_size()] f32, row-major, on the host.
  virtual Status execute(const ForwardBatch& batch, std::vector<float>* logits) = 0;

  // Seconds the device spent on steps (first copy in to last copy out), summed since start;
  // -1 when the backend does not measure it. Read from any thread.
  virtual double device_busy_seconds() const { return -1.0; }

  virtual bool samples_on_device() const { return false; }
  // As execute(), but the rows of `sampling` are sampled by the backend: `sampled` gets one
  // SampledRow per sampling.rows entry, and `other_logits` the logits of the remaining rows of
  // batch.logits_indices, in their order ([count, vocab_size()]).
  virtual Status execute_and_sample(const ForwardBatch& batch, const DeviceSamplingBatch& sampling,
                                    std::vector<float>* other_logits, std::vector<SampledRow>* sampled) {
    (void)batch, (void)sampling, (void)other_logits, (void)sampled;
    return Status::error("this backend does not sample on its device");
  }

  // True when the backend implements launch_and_sample() and collect_sampled(); only for a
  // backend that samples on its device.
  virtual bool launches_async() const { return false; }
  // Queues the step of execute_and_sample() and returns before it completes. The engine calls
  // collect_sampled() exactly once after each launch that returned ok, and launches nothing
  // else before it: blocks the engine frees meanwhile are reused only by later steps.
  virtual Status launch_and_sample(const ForwardBatch& batch, const DeviceSamplingBatch& sampling) {
    (void)batch, (void)sampling;
    return Status::error("this backend does not launch steps asynchronously");
  }
  // Waits for the launched step and returns what execute_and_sample() would have.
  virtual Status collect_sampled(std::vector<float>* other_logits, std::vector<SampledRow>* sampled) {
    (void)other_logits, (void)sampled;
    return Status::error("this backend does not launch steps asynchronously");
  }
};

}  // namespace kiln
