// A model-free backend for tests and for exercising the engine without weights: its "K/V" is
// the token id stored in each slot of a paged cache, and the logits of a row are a fixed
// pseudo-random function of the whole token history read back through the block table. So its
// output depends only on a sequence's tokens — exactly what batch invariance, preemption by
// recompute and prefix caching must preserve — and a wrong block table or slot mapping changes
// the logits. A draft tree's row reads the cached prefix and its own path (ForwardBatch::
// tree_parents), and KV moves copy slots before the step's writes, as a model's attention does.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/host_model_executor.h"

namespace kiln {

class FakeModelExecutor : public HostModelExecutor {
 public:
  FakeModelExecutor(int vocab_size, int num_blocks, int block_size);

  int vocab_size() const override { return vocab_size_; }

  // The logits the model gives after `history` (the row of its last token), for tests that
  // compute expected outputs without the engine.
  std::vector<float> logits_for(const std::vector<int32_t>& history) const;
  int64_t num_steps() const { return num_steps_; }
  int64_t num_tokens_computed() const { return num_tokens_computed_; }
  int max_batch_tokens_seen() const { return max_batch_tokens_seen_; }

 protected:
  Status forward(const ForwardBatch& batch, std::vector<float>* logits) override;

 private:
  std::vector<float> logits_from_hash(uint64_t hash) const;

  int vocab_size_;
  int block_size_;
  std::vector<int32_t> slots_;  // [num_blocks * block_size] token id whose "K/V" is there
  int64_t num_steps_ = 0;
  int64_t num_tokens_computed_ = 0;
  int max_batch_tokens_seen_ = 0;
};

}  // namespace kiln
