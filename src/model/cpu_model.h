// The Llama / Qwen2 forward pass on the CPU: f32 compute over bf16/f16/f32 weights (FP8 linears
// through cpu::fp8_linear, activations quantized as the device quantizes them), one call per
// engine step over a mixed batch of prefill chunks and decodes, K/V read and written through the
// batch's block tables in a paged cache this object owns. Each token's result depends only on its
// own sequence (batch invariance), so a request's logits are the same bits alone or in any batch.
//
// Under tensor parallelism (CpuModelOptions::communicator) one CpuModel is one rank: it holds the
// rank's shard of the weights (model/weight_sharding.h) and of the KV heads, all-reduces the
// embedding, o_proj and down_proj outputs, and gathers the logits on rank 0
// (model/cpu_tensor_parallel_model.h runs a group of them).
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "base/status.h"
#include "dist/communicator.h"
#include "kernels/cpu/cpu_context.h"
#include "kernels/cpu/thread_pool.h"
#include "model/cpu_linear.h"
#include "model/forward_batch.h"
#include "model/kv_cache_storage.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "model/rope.h"
#include "model/tensor_parallel.h"

namespace kiln {

struct CpuModelOptions {
  int num_blocks = 0;           // KV cache blocks (all sequences together)
  int block_size = 16;          // tokens per block
  int num_threads = 0;          // 0: all cores
  std::optional<cpu::Isa> isa;  // default: the best this CPU supports
  // KV cache element type: kF32, or kF8E4M3 (--kv-cache-dtype fp8: codes with per-layer scales).
  DType kv_cache_dtype = DType::kF32;
  // FP8 cache: per layer (k_scale, v_scale) from the checkpoint; empty: 1.0 each.
  std::vector<float> kv_scales;
  // FP8 cache: set every layer's scales from the first step's keys and values (vLLM's
  // --calculate-kv-scales), ahead of the checkpoint's.
  bool calculate_kv_scales = false;
  // Tensor parallelism: this rank's communicator (its rank and the group's size); the weights are
  // then the rank's shard. Null: the whole model.
  dist::Communicator* communicator = nullptr;
  // EAGLE-3 (model/cpu_eagle3_drafter.h): layers whose input hidden state (the residual stream
  // entering them; num_hidden_layers means the last layer's output, before the final norm)
  // forward() keeps for every row of the batch, side by side in captured_hidden().
  std::vector<int> capture_layer_inputs;
};

class CpuModel {
 public:
  // Checks every weight's shape and dtype against the config; errors name the tensor. The memory
  // behind `weights` must outlive the model.
  static Result<std::unique_ptr<CpuModel>> create(const ModelConfig& config,
                                                  const ModelWeights& weights,
                                                  const CpuModelOptions& options);

  // Runs one step. Not thread-safe: one engine thread owns the model, as it owns the device.
  // logits: [batch.logits_indices.size(), vocab_size] f32, row i for token row
  // batch.logits_indices[i]; under tensor parallelism on rank 0 only (the others' stays empty),
  // and every rank of the group must run the same batch. A batch inconsistent with itself or with
  // the cache (block ids, slots, positions, token ids) is refused with an error before anything
  // is written or exchanged.
  Status forward(const ForwardBatch& batch, std::vector<float>* logits);

  const ModelConfig& config() const { return config_; }  // the whole model's
  const ShardShape& shard() const { return shard_; }
  const KvCacheShape& kv_cache_shape() const { return kv_cache_.shape(); }
  // FP8 cache: per layer (k_scale, v_scale) as they stand.
  std::vector<float> kv_scales() { return kv_cache_.scales(); }
  cpu::Isa isa() const { return ctx_.isa; }
  // [num_tokens of the last forward, capture_layer_inputs.size() * hidden_size].
  const std::vector<float>& captured_hidden() const { return captured_hidden_; }
  int num_threads() const { return pool_->num_threads(); }

 private:
  CpuModel(const ModelConfig& config, const ShardShape& shard, const ModelWeights& weights,
           const CpuModelOptions& options, RopeParameters rope);
  // Tensor parallelism: lm_head over this rank's vocabulary rows, all gathered into `logits` on
  // rank 0 (left empty on the others).
  void gather_logits(const float* final_normed /*[num_logits, hidden]*/, int num_logits, std::vector<float>* logits);
  // The projections as CpuLinears (FP8 where config.quantization says; online FP8 quantizes here).
  Status create_linears();

  struct LayerLinears {
    CpuLinear q, k, v, o, gate, up, down;
  };

  ModelConfig config_;
  ShardShape shard_;
  ModelConfig local_;  // this rank's heads, KV heads and intermediate width (config_ without TP)
  dist::Communicator* communicator_ = nullptr;
  ModelWeights weights_;
  std::unique_ptr<cpu::ThreadPool> pool_;
  cpu::CpuContext ctx_;
  KvCacheStorage kv_cache_;
  bool kv_scales_pending_ = false;  // calculate_kv_scales and no step has run yet
  bool warned_kv_saturation_ = false;
  RopeTable rope_table_;
  std::vector<LayerLinears> linears_;
  CpuLinear lm_head_;

  // Activations, resized per step; [num_tokens, width] each.
  std::vector<float> residual_, normed_, q_, k_, v_, attn_, proj_, gate_, up_, act_;
  // Copies the residual stream (plus `pending`, the last layer's MLP output, when not null) into
  // the captured_hidden_ columns of every capture of layer input `layer`.
  void capture_hidden(int layer, int num_tokens, const float* pending);

  std::vector<int> capture_layer_inputs_;
  std::vector<float> captured_hidden_;
  // Tensor parallelism: this rank's logits padded to vocab_rows_per_rank, and every rank's.
  std::vector<float> shard_logits_, gathered_logits_;
};

}  // namespace kiln
