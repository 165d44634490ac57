// How a device's memory is split between weights, activations and the paged KV cache: one plan
// for both backends. The CUDA model fills it after profiling a forward (model/cuda/cuda_model.h);
// the engine sizes the CPU's from a byte budget, checks that one request of max_model_len fits
// and logs it (engine/memory_plan.h).
#pragma once

#include <cstdint>

#include "model/model_config.h"
#include "tensor/dtype.h"

namespace kiln {

struct MemoryPlan {
  int64_t total_bytes = 0;       // CUDA: the device's memory, or the --gpu-memory-limit cap; CPU: 0
  int64_t usable_bytes = 0;      // CUDA: total_bytes x gpu_memory_utilization; CPU: 0
  int64_t weights_bytes = 0;
  int64_t activation_bytes = 0;  // peak of one forward at max_num_batched_tokens
  int64_t context_bytes = 0;     // CUDA context, cuBLAS and other non-tensor memory; CPU: 0
  int64_t graphs_bytes = 0;      // CUDA: reserved for the decode steps' graphs (measured); CPU: 0
  int num_graphs = 0;            // CUDA: the graphs that reservation covers
  int64_t kv_cache_bytes = 0;    // num_blocks * bytes_per_block
  int64_t bytes_per_block = 0;   // K and V of all layers for block_size tokens
  DType kv_cache_dtype = DType::kBF16;  // f32 (CPU) or bf16 (CUDA), or fp8_e4m3
  int64_t num_blocks = 0;
  int block_size = 16;
  int max_model_len = 0;

  int64_t num_kv_tokens() const { return num_blocks * block_size; }
  // Requests of max_model_len tokens that fit at once.
  double max_concurrency() const {
    return max_model_len > 0 ? static_cast<double>(num_kv_tokens()) / max_model_len : 0.0;
  }
};

// K and V of every layer for one block: 2 * layers * block_size * kv_heads * head_dim * dtype.
int64_t kv_bytes_per_block(const ModelConfig& config, int block_size, DType kv_dtype);

}  // namespace kiln
