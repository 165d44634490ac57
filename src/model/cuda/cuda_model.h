// The Llama / Qwen2 forward pass on one GPU in bf16: the CUDA twin of CpuModel. One call per
// engine step over a mixed batch of prefill chunks and decodes (model/forward_batch.h), K/V in a
// paged bf16 cache this object owns, sized by a memory plan as vLLM makes it: weights, then one
// profiled forward at max_num_batched_tokens, then the KV cache gets
// gpu_memory_utilization x total - weights - activation peak - CUDA context.
#pragma once

#include <cuda_bf16.h>

#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/linear.h"
#include "model/cuda/cuda_weights.h"
#include "model/forward_batch.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "model/rope.h"

namespace kiln::cuda {

struct CudaModelOptions {
  int device = 0;
  int block_size = 16;
  int max_num_batched_tokens = 8192;  // sizes the activations
  int max_num_seqs = 256;
  int max_model_len = 0;  // 0: the config's max_position_embeddings
  double gpu_memory_utilization = 0.9;
  std::optional<int64_t> gpu_memory_limit_bytes;  // test-only cap on the device's memory
  std::optional<int> num_blocks;                  // overrides the plan's KV cache size
};

struct MemoryPlan {
  int64_t total_bytes = 0;       // the device's memory, or the cap
  int64_t usable_bytes = 0;      // x gpu_memory_utilization
  int64_t weights_bytes = 0;
  int64_t activation_bytes = 0;  // peak of one forward at max_num_batched_tokens
  int64_t context_bytes = 0;     // CUDA context, cuBLAS and other non-tensor memory
  int64_t kv_cache_bytes = 0;
  int num_blocks = 0;
  int block_size = 0;
  double max_concurrency = 0;  // num_blocks * block_size / max_model_len
};

class CudaModel {
 public:
  static Result<std::unique_ptr<CudaModel>> create(const ModelConfig& config,
                                                   const ModelWeights& host_weights,
                                                   const CudaModelOptions& options);
  ~CudaModel();

  // logits: [batch.logits_indices.size(), vocab_size] f32 (bf16 values, as HF's bf16 model
  // computes them before .float()). Refuses an inconsistent batch before touching the cache.
  Status forward(const ForwardBatch& batch, std::vector<float>* logits);

  const ModelConfig& config() const { return config_; }
  const MemoryPlan& memory_plan() const { return plan_; }
  const DeviceInfo& device_info() const { return context_->info(); }

 private:
  CudaModel() = default;
  Status allocate_activations();
  Status plan_and_allocate_kv_cache(int64_t free_before_weights, int64_t weights_bytes);
  void run_layers(int num_tokens, int max_seq_len, int max_query_len);
  void upload_batch(const ForwardBatch& batch);

  ModelConfig config_;
  CudaModelOptions options_;
  std::unique_ptr<CudaContext> context_;
  std::unique_ptr<Linear> linear_;
  CudaWeights weights_;
  MemoryPlan plan_;
  int max_model_len_ = 0;

  // KV cache: per layer K and V [num_blocks, block_size, num_kv_heads, head_dim] bf16.
  DeviceBuffer kv_cache_;
  size_t kv_layer_elements_ = 0;

  DeviceBuffer rope_table_;  // [max_model_len, head_dim] f32
  // Activations, [max_num_batched_tokens, width] bf16 each.
  DeviceBuffer residual_, normed_, qkv_, attn_, proj_, gate_up_, act_;
  DeviceBuffer attention_workspace_;
  int max_logit_rows_ = 0;
  DeviceBuffer logits_rows_;  // [max_logit_rows, hidden] gathered final hidden states
  DeviceBuffer logits_;       // [max_logit_rows, vocab] bf16
  // Step inputs on the device, uploaded in one copy from a pinned host mirror.
  DeviceBuffer step_inputs_;
  void* step_inputs_host_ = nullptr;
  size_t step_inputs_bytes_ = 0;
  uint16_t* logits_host_ = nullptr;  // pinned [max_logit_rows, vocab]
  int32_t *token_ids_ = nullptr, *positions_ = nullptr, *query_start_ = nullptr, *seq_lens_ = nullptr,
          *block_tables_ = nullptr, *logits_indices_ = nullptr;
  int64_t* slot_mapping_ = nullptr;
  int num_seqs_ = 0, max_blocks_per_seq_ = 0;
};

}  // namespace kiln::cuda
