// How memory is split between weights, activations and the paged KV cache, and the log lines
// vLLM prints for it at start-up. On the CPU the KV cache gets a byte budget
// (--kv-cache-memory); the GPU backend will derive the budget from --gpu-memory-utilization.
#pragma once

#include <cstdint>

#include "base/status.h"
#include "model/model_config.h"
#include "tensor/dtype.h"

namespace kiln {

struct MemoryPlan {
  int64_t weights_bytes = 0;
  int64_t activation_peak_bytes = 0;
  int64_t kv_cache_bytes = 0;   // num_blocks * bytes_per_block
  int64_t bytes_per_block = 0;  // K and V of all layers for block_size tokens
  int64_t num_blocks = 0;
  int block_size = 16;
  int max_model_len = 0;

  int64_t num_kv_tokens() const { return num_blocks * block_size; }
  double max_concurrency() const;  // full-length requests that fit at once
};

// K and V of every layer for one block: 2 * layers * block_size * kv_heads * head_dim * dtype.
int64_t kv_bytes_per_block(const ModelConfig& config, int block_size, DType kv_dtype);

// Sizes the KV cache from a byte budget. Fails with the advice vLLM gives when not even one
// request of max_model_len tokens fits.
Result<MemoryPlan> plan_kv_cache(int64_t kv_budget_bytes, int64_t bytes_per_block, int block_size,
                                 int max_model_len, int64_t weights_bytes,
                                 int64_t activation_peak_bytes);

// Logs the plan in vLLM's words: model weights, activation peak, available KV cache memory,
// KV cache size in tokens and blocks, and "Maximum concurrency for N tokens per request: X.XXx".
void log_memory_plan(const MemoryPlan& plan);

}  // namespace kiln
