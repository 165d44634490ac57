// The Llama / Qwen2 forward pass on one GPU in bf16: the CUDA twin of CpuModel. One call per
// engine step over a mixed batch of prefill chunks and decodes (model/forward_batch.h), K/V in a
// paged bf16 cache this object owns, sized by a memory plan as vLLM makes it: weights, then one
// profiled forward at max_num_batched_tokens, then the KV cache gets
// gpu_memory_utilization x total - weights - activation peak - CUDA context.
//
// Under tensor parallelism (CudaModelOptions::tensor_parallel) a CudaModel is one GPU's rank:
// it holds the rank's shard of the weights (model/weight_sharding.h) and of the KV heads,
// all-reduces the embedding (vocab-parallel), o_proj and down_proj outputs, and gathers the
// logits on rank 0, which alone samples; a step whose tokens come from the previous step's
// samples gets them from rank 0 by a broadcast. Every rank runs the same steps in the same order
// (model/cuda/cuda_tensor_parallel_model.h drives them).
#pragma once

#include <cuda_bf16.h>

#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "base/status.h"
#include "kernels/cuda/cuda_context.h"
#include "kernels/cuda/linear.h"
#include "kernels/ops.h"
#include "kernels/sampling.h"
#include "model/cuda/cuda_weights.h"
#include "model/cuda/step_profiler.h"
#include "model/cuda/tensor_parallel_rank.h"
#include "model/forward_batch.h"
#include "model/memory_plan.h"
#include "model/model_config.h"
#include "model/model_weights.h"
#include "model/rope.h"
#include "model/tensor_parallel.h"

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
  bool enforce_eager = false;  // no CUDA graphs: every step launches its kernels one by one
  int profile_every_n_steps = 0;  // log an operator breakdown of every Nth step (0: never)
  // Programmatic dependent launch on sm_90 and later (kernels/cuda/grid_dependency.cuh); off
  // only to measure the difference (the CLI's KILN_CUDA_PDL=0).
  bool programmatic_dependent_launch = true;
  // FP8 linears run weight-only (W8A16) even where the GPU has FP8 tensor cores; always so
  // below sm_90 (cuBLASLt's per-channel and block FP8 scaling is Hopper's).
  bool fp8_weight_only = false;
  // Mixed steps (prefill chunks beside decodes): the decodes' attention, memory-bound, runs on a
  // second stream beside the prefill attention, which keeps the tensor cores busy.
  bool overlap_mixed_attention = false;
  // Decode attention on the tensor cores (kernels/cuda/decode_attention_mma.h), for every model
  // of the process: a switch of the kernels'.
  bool decode_attention_mma = false;
  // KV cache element type: kBF16, or kF8E4M3 (--kv-cache-dtype fp8: codes, per-layer scales).
  DType kv_cache_dtype = DType::kBF16;
  // FP8 cache: per layer (k_scale, v_scale) from the checkpoint; empty: 1.0 each.
  std::vector<float> kv_scales;
  // FP8 cache: set every layer's scales from the first launched step's keys and values.
  bool calculate_kv_scales = false;
  // Tensor parallelism: this GPU's rank and collectives (it must outlive the model); the weights
  // are then the rank's shard. Null: the whole model on one GPU.
  const TensorParallelRank* tensor_parallel = nullptr;
  // Rows one step may sample; 0: max_num_seqs (one per sequence). Speculative decoding samples a
  // row per drafted position too (engine/spec/).
  int max_sampled_rows = 0;
  // Speculative draft trees (KILN_CUDA_SPEC_TREES=1): steps may carry ForwardBatch::tree_parents
  // (the prefill attention's tree mask) and KV moves. Off: such steps are refused.
  bool draft_trees = false;
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

  // Queues one step that samples on the device and returns without waiting for it: the rows of
  // `rows` are sampled by the sampling operator (kernels/sampling.h; logits_row indexes
  // batch.logits_indices, ascending); the logits of the other rows (prompt logprobs) are copied
  // back before this returns. `token_source` (empty, or one per token) feeds a token from the
  // previous launched step's sampled row (taken on the device; batch.token_ids holds -1 there).
  // A decode-only step whose every row samples replays a CUDA graph captured for its batch-size
  // bucket (unless enforce_eager). At most two launched steps are uncollected at once; the host
  // buffers a step uses are its own until it is collected. `bitmasks` (structured outputs):
  // [rows, sampling_bitmask_words(vocab_size)] token masks for the rows whose bitmask_row >= 0.
  Status launch_sampled(const ForwardBatch& batch, std::span<const int32_t> token_source,
                        std::span<const SamplingRowParams> rows, std::span<const LogitAdjustment> adjustments,
                        std::span<const uint32_t> bitmasks = {});
  // Waits for the oldest launched step: one SampledRow per row it sampled, and the logits of its
  // other rows, in order.
  Status collect_sampled(std::vector<SampledRow>* sampled, std::vector<float>* other_logits);
  // launch_sampled() then collect_sampled(), with no token sources.
  Status forward_sampled(const ForwardBatch& batch, std::span<const SamplingRowParams> rows,
                         std::span<const LogitAdjustment> adjustments, std::vector<float>* other_logits,
                         std::vector<SampledRow>* sampled);
  int num_uncollected_steps() const { return static_cast<int>(num_launched_ - num_collected_); }
  int num_captured_graphs() const { return static_cast<int>(graphs_.size()); }
  // GPU time of all steps so far (CUDA events around each step); safe to read from any thread.
  double busy_seconds() const { return static_cast<double>(busy_nanoseconds_.load()) * 1e-9; }
  int64_t num_graph_steps() const { return num_graph_steps_; }

  const ModelConfig& config() const { return config_; }  // the whole model's
  // Whether this model samples and returns results: always, except on ranks other than 0.
  bool samples() const { return tp_ == nullptr || tp_->rank == 0; }
  const MemoryPlan& memory_plan() const { return plan_; }
  const DeviceInfo& device_info() const { return context_->info(); }

 private:
  CudaModel() = default;
  // The host side of one launched step: pinned mirrors its inputs are copied from and its
  // results are copied to, and the events around its device work. Two, used alternately, so the
  // host writes step N+1's inputs while step N's copies may still be pending.
  struct StepSlot {
    void* inputs_host = nullptr;                  // mirror of step_inputs_
    SamplingRowParams* rows_host = nullptr;       // [max_sampled_rows_]
    LogitAdjustment* adjustments_host = nullptr;  // [adjustments_capacity_]
    uint32_t* bitmasks_host = nullptr;            // [max_sampled_rows_ * bitmask words]
    SampledRow* sampled_host = nullptr;           // [max_sampled_rows_]
    int32_t* kv_saturated_host = nullptr;         // [1] the FP8 cache's clip flag after the step
    cudaEvent_t begin = nullptr, end = nullptr;
    int num_sampled = 0;
    std::vector<float> other_logits;  // rows returned whole, converted at launch
  };

  Status allocate_activations();
  Status plan_and_allocate_kv_cache(int64_t free_before_weights, int64_t weights_bytes);
  // feed_sampled: first take the token ids token_source_ names from the previous step's samples.
  // calculate_kv_scales: an FP8 cache's scales are set from this step's keys and values first.
  void run_layers(int num_tokens, int max_seq_len, bool feed_sampled = false, bool calculate_kv_scales = false);
  StepSlot& launch_slot() { return slots_[num_launched_ % 2]; }
  // Copies the batch (and the token sources, -1 where empty) to the device through the launch
  // slot's mirror.
  void upload_batch(const ForwardBatch& batch, std::span<const int32_t> token_source = {});
  // Draft trees: the accepted nodes' K/V of an earlier step moved into place in every layer
  // (ForwardBatch::kv_move_*), on the stream before this step's kernels (cuda_model_draft_trees.cc).
  void move_accepted_kv(const ForwardBatch& batch);
  // Refuses a batch the model was not sized for; sets the longest sequence's length.
  Status check_batch(const ForwardBatch& batch, int* max_seq_len, std::span<const int32_t> token_source = {}) const;
  Status check_sampling(const ForwardBatch& batch, std::span<const SamplingRowParams> rows,
                        std::span<const LogitAdjustment> adjustments, std::span<const uint32_t> bitmasks = {}) const;
  Status stage_sampling(std::span<const SamplingRowParams> rows, std::span<const LogitAdjustment> adjustments,
                        int padded_rows, std::span<const uint32_t> bitmasks = {});
  // lm_head over logits rows [begin, begin + rows) of the step into logits_.
  void compute_logits(int num_tokens, int begin, int rows);
  bool graph_eligible(const ForwardBatch& batch, size_t num_sampled) const;
  int graph_padded_batch(int num_seqs) const;
  int graph_block_stride(int max_blocks_per_seq) const;
  void run_graph_step(const ForwardBatch& batch, std::span<const int32_t> token_source, int num_sampled);
  // Captures (does not run) the decode step of `padded` rows with block tables `stride` wide.
  cudaGraphExec_t capture_decode_graph(int padded, int stride);
  // The graphs decode steps may capture, and the device memory one takes (measured by capturing
  // the largest), reserved by the memory plan.
  int64_t measure_graph_bytes(int* num_graphs);
  Fp8KvCacheLayer fp8_kv_layer(int layer);
  void release_graphs();
  // Adds a finished step's device time (its slot's events) to the busy total.
  void add_busy_time(const StepSlot& slot);

  // Tensor parallelism: the row-parallel and vocab-parallel sums (no-ops on one GPU).
  void all_reduce(__nv_bfloat16* data, size_t count);

  ModelConfig config_;
  ModelConfig local_;  // this rank's heads, KV heads and intermediate width (config_ on one GPU)
  ShardShape shard_;
  const TensorParallelRank* tp_ = nullptr;
  CudaModelOptions options_;
  std::unique_ptr<CudaContext> context_;
  std::unique_ptr<Linear> linear_;
  CudaWeights weights_;
  MemoryPlan plan_;
  int max_model_len_ = 0;

  // KV cache: per layer K and V [num_blocks, block_size, num_kv_heads, head_dim] bf16, or FP8
  // codes with their scales [num_layers][k, v] f32 and a clip flag.
  DeviceBuffer kv_cache_;
  size_t kv_layer_elements_ = 0;
  DeviceBuffer kv_scales_, kv_saturated_;
  bool kv_scales_pending_ = false;  // calculate_kv_scales and no step launched yet
  bool kv_scales_logged_ = true;
  bool warned_kv_saturation_ = false;

  DeviceBuffer rope_table_;  // [max_model_len, head_dim] f32
  // Activations, [max_num_batched_tokens, width] bf16 each.
  DeviceBuffer residual_, normed_, qkv_, attn_, proj_, gate_up_, act_;
  DeviceBuffer attention_workspace_;
  int max_logit_rows_ = 0;
  DeviceBuffer logits_rows_;  // [max_logit_rows, hidden] gathered final hidden states
  DeviceBuffer logits_;       // [max_logit_rows, vocab] bf16
  // Tensor parallelism: this rank's logits [max_logit_rows, vocab_rows_per_rank] and every rank's
  // [size, max_logit_rows, vocab_rows_per_rank], put side by side into logits_ on rank 0.
  DeviceBuffer logits_shard_, logits_gathered_;
  // Step inputs on the device, copied from the launch slot's pinned mirror.
  DeviceBuffer step_inputs_;
  size_t step_inputs_bytes_ = 0;
  uint16_t* logits_host_ = nullptr;  // pinned [max_logit_rows, vocab]
  int32_t *token_ids_ = nullptr, *positions_ = nullptr, *query_start_ = nullptr, *seq_lens_ = nullptr,
          *block_tables_ = nullptr, *logits_indices_ = nullptr, *token_source_ = nullptr, *tree_parents_ = nullptr;
  int64_t *slot_mapping_ = nullptr, *kv_move_from_ = nullptr, *kv_move_to_ = nullptr;
  bool has_tree_ = false;  // the uploaded batch carries tree_parents
  int num_seqs_ = 0, max_blocks_per_seq_ = 0;
  int max_query_len_ = 0;  // most new tokens of a sequence in the uploaded batch (attention's kernel choice)
  int min_query_len_ = 0;  // fewest: 1 in a mixed step
  // The second stream of overlap_mixed_attention, and the events that fork and join it.
  cudaStream_t side_stream_ = nullptr;
  cudaEvent_t fork_event_ = nullptr, join_event_ = nullptr;

  // Device sampling: rows and adjustments staged through the slots' pinned mirrors, f32 scratch
  // per row. sampled_ holds the last step's samples until the next step that samples: a step
  // launched in between feeds from it.
  DeviceBuffer sampling_rows_;  // [max_sampled_rows_] SamplingRowParams
  DeviceBuffer bitmasks_;       // [max_sampled_rows_, sampling_bitmask_words(vocab)] token masks
  DeviceBuffer adjustments_;    // grows with the step's needs; graphs hold its address
  size_t adjustments_capacity_ = 0;
  DeviceBuffer sampling_workspace_;  // [max_sampled_rows_, vocab] f32
  DeviceBuffer sampled_;             // [max_sampled_rows_] SampledRow
  int num_previous_sampled_ = 0;     // rows the last launched step sampled
  int max_sampled_rows_ = 0;         // the sampling buffers' rows (CudaModelOptions::max_sampled_rows)

  StepSlot slots_[2];
  int64_t num_launched_ = 0, num_collected_ = 0;

  // Decode graphs by (padded batch size, block-table stride).
  std::map<std::pair<int, int>, cudaGraphExec_t> graphs_;
  int64_t num_graph_steps_ = 0;

  StepProfiler profiler_;
  std::atomic<int64_t> busy_nanoseconds_{0};
};

}  // namespace kiln::cuda
