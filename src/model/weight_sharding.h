// One rank's weights (model/tensor_parallel.h) cut from the whole checkpoint's views. Slices of
// rows (q/k/v and gate/up, their biases and per-channel FP8 scales, the vocabulary rows of
// embed_tokens and lm_head) are views into the same memory: a rank reads only its slice of the
// memory-mapped files. Slices of columns (o_proj and down_proj, row-parallel) are not contiguous
// and are copied row by row into memory the shard owns, reading only the slice's bytes. Norms,
// per-tensor scales, static input scales and KV cache scales are the same on every rank.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "model/tensor_parallel.h"

namespace kiln {

struct WeightShard {
  ModelWeights weights;  // the rank's shapes: shard_config(config, shape) with vocab_rows rows
  // The copied column slices; `weights` views into them (and into the whole weights' memory).
  std::vector<std::vector<uint8_t>> storage;
  int64_t copied_bytes = 0;
};

// Errors name the tensor whose FP8 block scales do not split at the shard's boundaries (128-row
// or 128-column blocks need boundaries on multiples of 128).
Result<std::unique_ptr<WeightShard>> shard_model_weights(const ModelConfig& config, const ModelWeights& weights,
                                                         const ShardShape& shard);

// Bytes of the rank's tensors (views and copies; a tied head counted once).
int64_t shard_weight_bytes(const ModelWeights& shard_weights, bool tied);

}  // namespace kiln
