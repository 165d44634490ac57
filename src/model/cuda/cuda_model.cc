#include "model/cuda/cuda_model.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/byte_size.h"
#include "base/log.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/decode_attention.h"
#include "kernels/cuda/decode_attention_mma.h"
#include "kernels/cuda/grid_dependency.h"
#include "kernels/cuda/ops_cuda.h"
#include "kernels/cuda/sampling_cuda.h"
#include "model/forward_batch_check.h"
#include "model/kv_cache_scales.h"

namespace kiln::cuda {
namespace {

size_t align_up(size_t value, size_t alignment = 256) {
  return (value + alignment - 1) / alignment * alignment;
}

int64_t free_device_bytes() {
  size_t free_bytes = 0, total_bytes = 0;
  KILN_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes));
  return static_cast<int64_t>(free_bytes);
}

}  // namespace

Result<std::unique_ptr<CudaModel>> CudaModel::create(const ModelConfig& config,
                                                     const ModelWeights& host_weights,
                                                     const CudaModelOptions& options) {
  if (config.head_dim != 64 && config.head_dim != 128) {
    return Status::error("the CUDA backend supports head_dim 64 and 128; config.json has head_dim " +
                         std::to_string(config.head_dim));
  }
  const TensorParallelRank* tp = options.tensor_parallel;
  if (tp != nullptr) KILN_RETURN_IF_ERROR(check_tensor_parallel(config, tp->size));
  const ShardShape shard = tp != nullptr ? shard_shape(config, tp->rank, tp->size) : shard_shape(config, 0, 1);
  const ModelConfig local = shard_config(config, shard);
  if (config.hidden_size % 8 || local.intermediate_size % 8 || local.q_size() % 8) {
    return Status::error("the CUDA backend needs hidden_size, intermediate_size and heads x head_dim "
                         "to be multiples of 8" + std::string(tp != nullptr ? " on each tensor-parallel rank" : ""));
  }
  if (options.kv_cache_dtype != DType::kBF16 && options.kv_cache_dtype != DType::kF8E4M3) {
    return Status::error(std::string("the CUDA backend keeps its KV cache in bfloat16 or fp8_e4m3, not ") +
                         std::string(dtype_name(options.kv_cache_dtype)));
  }
  if (!options.kv_scales.empty() && options.kv_scales.size() != 2 * static_cast<size_t>(config.num_hidden_layers)) {
    return Status::error("CUDA KV cache: " + std::to_string(options.kv_scales.size()) + " KV scales for " +
                         std::to_string(config.num_hidden_layers) + " layers (a k and a v scale per layer)");
  }
  std::unique_ptr<CudaModel> model(new CudaModel());
  model->config_ = config;
  model->local_ = local;
  model->shard_ = shard;
  model->tp_ = tp;
  model->options_ = options;
  // Collectives that graphs cannot capture (tests' ranks sharing one GPU): every step eagerly.
  if (tp != nullptr && !tp->collectives->capturable()) model->options_.enforce_eager = true;
  model->max_model_len_ = options.max_model_len > 0 ? options.max_model_len : config.max_position_embeddings;
  KILN_ASSIGN_OR_RETURN(model->context_, CudaContext::create(options.device));
  allow_grid_dependency_launches(options.programmatic_dependent_launch);
  use_decode_attention_mma(options.decode_attention_mma);
  model->linear_ = std::make_unique<Linear>(*model->context_);
  const DeviceInfo& info = model->context_->info();
  KILN_LOG(Info) << "CUDA device " << info.device << ": " << info.name << " (sm_" << info.compute_capability
                 << ", " << info.num_sms << " SMs, " << format_gib(static_cast<int64_t>(info.total_memory_bytes))
                 << ")";

  const int64_t free_before_weights = free_device_bytes();
  WeightUploadOptions upload_options;
  upload_options.fp8_weight_only = options.fp8_weight_only || info.compute_capability < 90;
  if (tp != nullptr) {
    upload_options.progress_label = "Loading rank " + std::to_string(tp->rank) + " of " + std::to_string(tp->size) +
                                    "'s weights to GPU " + std::to_string(options.device);
    upload_options.show_progress = tp->rank == 0;
  }
  KILN_ASSIGN_OR_RETURN(model->weights_, upload_weights(local, host_weights, model->context_->stream(), upload_options));
  model->context_->synchronize();
  KILN_RETURN_IF_ERROR(model->linear_->reserve_fp8(model->weights_.fp8_linears(), options.max_num_batched_tokens));

  KILN_ASSIGN_OR_RETURN(RopeParameters rope, compute_rope_parameters(config));
  RopeTable table(std::move(rope), config.head_dim);
  table.reserve(model->max_model_len_);
  const size_t rope_bytes = static_cast<size_t>(model->max_model_len_) * config.head_dim * sizeof(float);
  KILN_ASSIGN_OR_RETURN(model->rope_table_, DeviceBuffer::try_allocate(rope_bytes));
  KILN_CUDA_CHECK(cudaMemcpy(model->rope_table_.data(), table.data(), rope_bytes, cudaMemcpyHostToDevice));

  model->profiler_.enable(options.profile_every_n_steps);
  if (tp != nullptr) model->profiler_.set_label("rank " + std::to_string(tp->rank));
  if (options.overlap_mixed_attention) {
    KILN_CUDA_CHECK(cudaStreamCreateWithFlags(&model->side_stream_, cudaStreamNonBlocking));
    KILN_CUDA_CHECK(cudaEventCreateWithFlags(&model->fork_event_, cudaEventDisableTiming));
    KILN_CUDA_CHECK(cudaEventCreateWithFlags(&model->join_event_, cudaEventDisableTiming));
  }
  KILN_RETURN_IF_ERROR(model->allocate_activations());
  KILN_RETURN_IF_ERROR(model->plan_and_allocate_kv_cache(free_before_weights, model->weights_.size_bytes));
  return model;
}

CudaModel::~CudaModel() {
  if (context_) context_->synchronize();
  release_graphs();
  for (StepSlot& slot : slots_) {
    if (slot.begin) cudaEventDestroy(slot.begin);
    if (slot.end) cudaEventDestroy(slot.end);
    if (slot.inputs_host) cudaFreeHost(slot.inputs_host);
    if (slot.rows_host) cudaFreeHost(slot.rows_host);
    if (slot.adjustments_host) cudaFreeHost(slot.adjustments_host);
    if (slot.bitmasks_host) cudaFreeHost(slot.bitmasks_host);
    if (slot.sampled_host) cudaFreeHost(slot.sampled_host);
    if (slot.kv_saturated_host) cudaFreeHost(slot.kv_saturated_host);
  }
  if (logits_host_) cudaFreeHost(logits_host_);
  if (fork_event_) cudaEventDestroy(fork_event_);
  if (join_event_) cudaEventDestroy(join_event_);
  if (side_stream_) cudaStreamDestroy(side_stream_);
}

Status CudaModel::allocate_activations() {
  const ModelConfig& c = local_;  // the rank's widths; vocab_size is the whole model's
  const size_t tokens = static_cast<size_t>(options_.max_num_batched_tokens);
  auto allocate = [&](DeviceBuffer* buffer, size_t elements) -> Status {
    KILN_ASSIGN_OR_RETURN(*buffer, DeviceBuffer::try_allocate(std::max<size_t>(elements, 1) * 2));
    return ok_status();
  };
  KILN_RETURN_IF_ERROR(allocate(&residual_, tokens * c.hidden_size));
  KILN_RETURN_IF_ERROR(allocate(&normed_, tokens * c.hidden_size));
  KILN_RETURN_IF_ERROR(allocate(&qkv_, tokens * (c.q_size() + 2 * c.kv_size())));
  KILN_RETURN_IF_ERROR(allocate(&attn_, tokens * c.q_size()));
  KILN_RETURN_IF_ERROR(allocate(&proj_, tokens * c.hidden_size));
  KILN_RETURN_IF_ERROR(allocate(&gate_up_, tokens * 2 * c.intermediate_size));
  KILN_RETURN_IF_ERROR(allocate(&act_, tokens * c.intermediate_size));
  const AttentionShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  KILN_ASSIGN_OR_RETURN(attention_workspace_, DeviceBuffer::try_allocate(paged_attention_workspace_bytes(
                                                  context_->info().num_sms, shape)));
  // Logits are computed max_logit_rows at a time (prompt logprobs can ask for every token).
  max_logit_rows_ = std::max(1, std::min(options_.max_num_batched_tokens, std::max(options_.max_num_seqs, 256)));
  KILN_RETURN_IF_ERROR(allocate(&logits_rows_, static_cast<size_t>(max_logit_rows_) * c.hidden_size));
  KILN_RETURN_IF_ERROR(allocate(&logits_, static_cast<size_t>(max_logit_rows_) * c.vocab_size));
  KILN_CUDA_CHECK(cudaMallocHost(&logits_host_, static_cast<size_t>(max_logit_rows_) * c.vocab_size * 2));
  if (tp_ != nullptr) {
    const size_t shard_elements = static_cast<size_t>(max_logit_rows_) * shard_.vocab_rows_per_rank;
    KILN_RETURN_IF_ERROR(allocate(&logits_shard_, shard_elements));
    KILN_RETURN_IF_ERROR(allocate(&logits_gathered_, shard_elements * static_cast<size_t>(tp_->size)));
  }

  // Sampling on the device: one sampled row per sequence and step, plus one per drafted position
  // when speculative decoding asks for more.
  max_sampled_rows_ = std::max(options_.max_num_seqs, options_.max_sampled_rows);
  const size_t max_sampled = static_cast<size_t>(max_sampled_rows_);
  KILN_ASSIGN_OR_RETURN(sampling_rows_, DeviceBuffer::try_allocate(max_sampled * sizeof(SamplingRowParams)));
  KILN_ASSIGN_OR_RETURN(sampling_workspace_,
                        DeviceBuffer::try_allocate(sampling_workspace_bytes(max_sampled_rows_, c.vocab_size)));
  KILN_ASSIGN_OR_RETURN(sampled_, DeviceBuffer::try_allocate(max_sampled * sizeof(SampledRow)));
  // Structured outputs: a token mask per sampled row at a fixed address, so the decode graphs
  // read each step's masks (rows without one never touch it).
  const size_t bitmask_bytes = max_sampled * static_cast<size_t>(sampling_bitmask_words(c.vocab_size)) * sizeof(uint32_t);
  KILN_ASSIGN_OR_RETURN(bitmasks_, DeviceBuffer::try_allocate(bitmask_bytes));
  // Room for a few penalized sequences' histories; grows when a step needs more.
  adjustments_capacity_ = max_sampled * 64;
  KILN_ASSIGN_OR_RETURN(adjustments_, DeviceBuffer::try_allocate(adjustments_capacity_ * sizeof(LogitAdjustment)));

  max_blocks_per_seq_ = (max_model_len_ + options_.block_size - 1) / options_.block_size;
  const size_t seqs = static_cast<size_t>(options_.max_num_seqs);
  // Draft trees add parents per token and KV moves (at most one per token of a step).
  const size_t tree_bytes = options_.draft_trees ? align_up(tokens * 4) + 2 * align_up(tokens * 8) : 0;
  step_inputs_bytes_ = align_up(tokens * 4) * 4 + align_up(tokens * 8) + align_up((seqs + 1) * 4) +
                       align_up(seqs * 4) + align_up(seqs * max_blocks_per_seq_ * 4) + tree_bytes;
  KILN_ASSIGN_OR_RETURN(step_inputs_, DeviceBuffer::try_allocate(step_inputs_bytes_));
  for (StepSlot& slot : slots_) {
    KILN_CUDA_CHECK(cudaMallocHost(&slot.inputs_host, step_inputs_bytes_));
    KILN_CUDA_CHECK(cudaMallocHost(&slot.rows_host, max_sampled * sizeof(SamplingRowParams)));
    KILN_CUDA_CHECK(cudaMallocHost(&slot.adjustments_host, adjustments_capacity_ * sizeof(LogitAdjustment)));
    KILN_CUDA_CHECK(cudaMallocHost(&slot.bitmasks_host, bitmask_bytes));
    KILN_CUDA_CHECK(cudaMallocHost(&slot.sampled_host, max_sampled * sizeof(SampledRow)));
    KILN_CUDA_CHECK(cudaMallocHost(&slot.kv_saturated_host, sizeof(int32_t)));
    *slot.kv_saturated_host = 0;
    KILN_CUDA_CHECK(cudaEventCreate(&slot.begin));
    KILN_CUDA_CHECK(cudaEventCreate(&slot.end));
  }
  char* base = step_inputs_.as<char>();
  size_t offset = 0;
  auto take = [&](size_t bytes) {
    char* pointer = base + offset;
    offset += align_up(bytes);
    return pointer;
  };
  token_ids_ = reinterpret_cast<int32_t*>(take(tokens * 4));
  positions_ = reinterpret_cast<int32_t*>(take(tokens * 4));
  logits_indices_ = reinterpret_cast<int32_t*>(take(tokens * 4));
  token_source_ = reinterpret_cast<int32_t*>(take(tokens * 4));
  slot_mapping_ = reinterpret_cast<int64_t*>(take(tokens * 8));
  query_start_ = reinterpret_cast<int32_t*>(take((seqs + 1) * 4));
  seq_lens_ = reinterpret_cast<int32_t*>(take(seqs * 4));
  block_tables_ = reinterpret_cast<int32_t*>(take(seqs * max_blocks_per_seq_ * 4));
  if (options_.draft_trees) {
    tree_parents_ = reinterpret_cast<int32_t*>(take(tokens * 4));
    kv_move_from_ = reinterpret_cast<int64_t*>(take(tokens * 8));
    kv_move_to_ = reinterpret_cast<int64_t*>(take(tokens * 8));
  }
  return ok_status();
}

Status CudaModel::plan_and_allocate_kv_cache(int64_t free_before_weights, int64_t weights_bytes) {
  const ModelConfig& c = local_;  // the rank's KV heads
  const DeviceInfo& info = context_->info();
  plan_.total_bytes = static_cast<int64_t>(info.total_memory_bytes);
  if (options_.gpu_memory_limit_bytes) plan_.total_bytes = std::min(plan_.total_bytes, *options_.gpu_memory_limit_bytes);
  plan_.usable_bytes = static_cast<int64_t>(options_.gpu_memory_utilization * plan_.total_bytes);
  plan_.weights_bytes = weights_bytes;
  plan_.block_size = options_.block_size;

  // Profile: one forward at max_num_batched_tokens as a single sequence, its K/V going to slot -1
  // (not written) and attending over a temporary cache, so every activation buffer and library
  // workspace is touched at its largest.
  const int profile_tokens = std::min(options_.max_num_batched_tokens, max_model_len_);
  const int profile_blocks = (profile_tokens + options_.block_size - 1) / options_.block_size;
  const size_t element_bytes = dtype_size_bytes(options_.kv_cache_dtype);
  plan_.kv_cache_dtype = options_.kv_cache_dtype;
  if (options_.kv_cache_dtype == DType::kF8E4M3) {
    std::vector<float> scales = options_.kv_scales;
    if (scales.empty()) scales.assign(2 * static_cast<size_t>(c.num_hidden_layers), 1.0f);
    KILN_ASSIGN_OR_RETURN(kv_scales_, DeviceBuffer::try_allocate(scales.size() * sizeof(float)));
    KILN_CUDA_CHECK(cudaMemcpy(kv_scales_.data(), scales.data(), scales.size() * sizeof(float), cudaMemcpyHostToDevice));
    KILN_ASSIGN_OR_RETURN(kv_saturated_, DeviceBuffer::try_allocate(sizeof(int32_t)));
    KILN_CUDA_CHECK(cudaMemset(kv_saturated_.data(), 0, sizeof(int32_t)));
    kv_scales_pending_ = options_.calculate_kv_scales;
    kv_scales_logged_ = !options_.calculate_kv_scales;
  }
  kv_layer_elements_ = static_cast<size_t>(profile_blocks) * options_.block_size * c.kv_size();
  KILN_ASSIGN_OR_RETURN(kv_cache_,
                        DeviceBuffer::try_allocate(kv_layer_elements_ * 2 * element_bytes * c.num_hidden_layers));
  ForwardBatch profile;
  profile.token_ids.assign(profile_tokens, 0);
  for (int t = 0; t < profile_tokens; ++t) profile.positions.push_back(t);
  profile.slot_mapping.assign(profile_tokens, -1);
  profile.query_start = {0, profile_tokens};
  profile.seq_lens = {profile_tokens};
  profile.max_blocks_per_seq = profile_blocks;
  for (int b = 0; b < profile_blocks; ++b) profile.block_tables.push_back(b);
  profile.logits_indices = {profile_tokens - 1};
  upload_batch(profile);
  // The profile forward runs the first collectives: every rank must have got this far.
  if (tp_ != nullptr && tp_->startup != nullptr) KILN_RETURN_IF_ERROR(tp_->startup->arrive(tp_->rank, ok_status()));
  run_layers(profile_tokens, profile_tokens);
  context_->synchronize();
  int num_graphs = 0;
  plan_.graphs_bytes = measure_graph_bytes(&num_graphs);
  const int64_t used_after_profile = free_before_weights - free_device_bytes();
  const int64_t profile_kv_bytes = static_cast<int64_t>(kv_cache_.size_bytes());
  kv_cache_.reset();
  plan_.activation_bytes = static_cast<int64_t>(residual_.size_bytes() + normed_.size_bytes() + qkv_.size_bytes() +
                                                attn_.size_bytes() + proj_.size_bytes() + gate_up_.size_bytes() +
                                                act_.size_bytes() + attention_workspace_.size_bytes() +
                                                logits_rows_.size_bytes() + logits_.size_bytes() +
                                                logits_shard_.size_bytes() + logits_gathered_.size_bytes() +
                                                step_inputs_.size_bytes() + rope_table_.size_bytes() +
                                                sampling_rows_.size_bytes() + sampling_workspace_.size_bytes() +
                                                sampled_.size_bytes() + adjustments_.size_bytes() + bitmasks_.size_bytes() +
                                                context_->workspace_bytes() + linear_->fp8_scratch_bytes());
  // What the device lost beyond our tensors is the CUDA context's and the libraries' (cuBLASLt
  // kernels, allocator granularity): it is not free for the KV cache either.
  plan_.context_bytes = std::max<int64_t>(0, used_after_profile - profile_kv_bytes - weights_bytes - plan_.activation_bytes);
  plan_.num_graphs = num_graphs;
  plan_.context_bytes += static_cast<int64_t>(info.total_memory_bytes) - free_before_weights;

  const int64_t block_bytes = kv_bytes_per_block(c, options_.block_size, options_.kv_cache_dtype);
  if (options_.num_blocks) {
    plan_.num_blocks = *options_.num_blocks;
  } else {
    const int64_t available =
        plan_.usable_bytes - plan_.weights_bytes - plan_.activation_bytes - plan_.context_bytes - plan_.graphs_bytes;
    plan_.num_blocks = static_cast<int>(std::max<int64_t>(0, available / block_bytes));
  }
  if (plan_.num_blocks <= 0) {
    return Status::error("no GPU memory left for the KV cache: " + format_gib(plan_.usable_bytes) +
                         " usable (--gpu-memory-utilization " + std::to_string(options_.gpu_memory_utilization) +
                         ") - weights " + format_gib(plan_.weights_bytes) + " - activations " +
                         format_gib(plan_.activation_bytes) + " - CUDA context " + format_gib(plan_.context_bytes) +
                         " - CUDA graphs " + format_gib(plan_.graphs_bytes) +
                         "; raise --gpu-memory-utilization or lower --max-num-batched-tokens");
  }
  plan_.kv_cache_bytes = block_bytes * plan_.num_blocks;
  plan_.bytes_per_block = block_bytes;
  plan_.max_model_len = max_model_len_;
  kv_layer_elements_ = static_cast<size_t>(plan_.num_blocks) * options_.block_size * c.kv_size();
  KILN_ASSIGN_OR_RETURN(kv_cache_, DeviceBuffer::try_allocate(static_cast<size_t>(plan_.kv_cache_bytes)));
  return ok_status();
}

void CudaModel::upload_batch(const ForwardBatch& batch, std::span<const int32_t> token_source) {
  // Each array goes to its fixed device address (CUDA graphs replay against fixed pointers)
  // through the launch slot's pinned mirror, copying only the bytes this step uses.
  char* host = static_cast<char*>(launch_slot().inputs_host);
  const char* device = step_inputs_.as<char>();
  auto stage = [&](void* device_target, const void* source, size_t bytes) {
    if (bytes == 0) return;
    char* mirror = host + (static_cast<const char*>(device_target) - device);
    std::memcpy(mirror, source, bytes);
    KILN_CUDA_CHECK(cudaMemcpyAsync(device_target, mirror, bytes, cudaMemcpyHostToDevice, context_->stream()));
  };
  stage(token_ids_, batch.token_ids.data(), batch.token_ids.size() * 4);
  stage(positions_, batch.positions.data(), batch.positions.size() * 4);
  stage(logits_indices_, batch.logits_indices.data(), batch.logits_indices.size() * 4);
  stage(slot_mapping_, batch.slot_mapping.data(), batch.slot_mapping.size() * 8);
  stage(query_start_, batch.query_start.data(), batch.query_start.size() * 4);
  stage(seq_lens_, batch.seq_lens.data(), batch.seq_lens.size() * 4);
  stage(block_tables_, batch.block_tables.data(), batch.block_tables.size() * 4);
  stage(token_source_, token_source.data(), token_source.size() * 4);
  has_tree_ = !batch.tree_parents.empty();
  if (has_tree_) stage(tree_parents_, batch.tree_parents.data(), batch.tree_parents.size() * 4);
  num_seqs_ = batch.num_seqs();
  max_query_len_ = 0;
  min_query_len_ = num_seqs_ > 0 ? INT32_MAX : 0;
  for (int q = 0; q < num_seqs_; ++q) {
    max_query_len_ = std::max(max_query_len_, batch.query_start[q + 1] - batch.query_start[q]);
    min_query_len_ = std::min(min_query_len_, batch.query_start[q + 1] - batch.query_start[q]);
  }
  max_blocks_per_seq_ = batch.max_blocks_per_seq;
}

Fp8KvCacheLayer CudaModel::fp8_kv_layer(int layer) {
  uint8_t* base = kv_cache_.as<uint8_t>() + 2 * static_cast<size_t>(layer) * kv_layer_elements_;
  float* scales = kv_scales_.as<float>() + 2 * layer;
  return {base, base + kv_layer_elements_, scales, scales + 1, kv_saturated_.as<int32_t>()};
}

void CudaModel::all_reduce(bf16* data, size_t count) {
  if (tp_ != nullptr) tp_->collectives->all_reduce(data, count, context_->stream());
}

void CudaModel::run_layers(int num_tokens, int max_seq_len, bool feed_sampled, bool calculate_kv_scales) {
  const ModelConfig& c = local_;  // the rank's heads and intermediate width
  cudaStream_t stream = context_->stream();
  const float eps = static_cast<float>(c.rms_norm_eps);
  const int qkv_width = c.q_size() + 2 * c.kv_size();
  const AttentionShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  auto* residual = residual_.as<bf16>();
  auto* normed = normed_.as<bf16>();
  auto* qkv = qkv_.as<bf16>();
  auto* attn = attn_.as<bf16>();
  auto* proj = proj_.as<bf16>();
  auto* gate_up = gate_up_.as<bf16>();
  auto* act = act_.as<bf16>();
  const bool fp8_cache = options_.kv_cache_dtype == DType::kF8E4M3;
  // A mixed step whose shape both kernels take, not being captured into a graph.
  const bool overlap_attention = side_stream_ != nullptr && min_query_len_ == 1 && max_query_len_ > 1 &&
                                 prefill_attention_supports(shape) && decode_attention_supports(shape) &&
                                 !profiler_.active();
  auto* k_cache = kv_cache_.as<bf16>();
  PagedAttentionMetadata meta{query_start_, seq_lens_, block_tables_, num_seqs_, max_blocks_per_seq_,
                              options_.block_size};
  meta.num_tokens = num_tokens;
  meta.max_seq_len = max_seq_len;
  meta.max_query_len = max_query_len_;
  meta.tree_parents = has_tree_ ? tree_parents_ : nullptr;

  if (feed_sampled) {
    // Only rank 0 samples: it resolves the tokens and hands them to the other ranks.
    if (samples()) take_sampled_tokens(token_source_, sampled_.as<SampledRow>(), num_tokens, token_ids_, stream);
    if (tp_ != nullptr) tp_->collectives->broadcast(token_ids_, static_cast<size_t>(num_tokens) * sizeof(int32_t), 0, stream);
    profiler_.mark("take_sampled_tokens");
  }
  if (tp_ != nullptr) {
    embedding_shard(weights_.embed_tokens, shard_.vocab_begin, shard_.vocab_rows, token_ids_, num_tokens,
                    c.hidden_size, residual, stream);
    all_reduce(residual, static_cast<size_t>(num_tokens) * c.hidden_size);
  } else {
    embedding(weights_.embed_tokens, c.vocab_size, token_ids_, num_tokens, c.hidden_size, residual, stream);
  }
  profiler_.mark("embedding");
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    const CudaLayerWeights& w = weights_.layers[static_cast<size_t>(l)];
    bf16* layer_k = fp8_cache ? nullptr : k_cache + 2 * static_cast<size_t>(l) * kv_layer_elements_;
    bf16* layer_v = fp8_cache ? nullptr : layer_k + kv_layer_elements_;
    if (l == 0) {
      rms_norm(residual, w.input_layernorm, num_tokens, c.hidden_size, eps, normed, stream);
    } else {
      add_rms_norm(residual, proj, w.input_layernorm, num_tokens, c.hidden_size, eps, normed, stream);
    }
    profiler_.mark("norm");
    linear_->run(normed, w.qkv_proj, w.qkv_bias, qkv, num_tokens, qkv_width, c.hidden_size);
    profiler_.mark("qkv_proj");
    const Fp8KvCacheLayer layer_cache = fp8_cache ? fp8_kv_layer(l) : Fp8KvCacheLayer{};
    if (fp8_cache) {
      rope_and_cache_kv(qkv, qkv + c.q_size(), qkv + c.q_size() + c.kv_size(), positions_, slot_mapping_, num_tokens,
                        shape, rope_table_.as<float>(), max_model_len_, layer_cache, calculate_kv_scales, stream,
                        qkv_width);
    } else {
      rope_and_cache_kv(qkv, qkv + c.q_size(), qkv + c.q_size() + c.kv_size(), positions_, slot_mapping_,
                        num_tokens, shape, rope_table_.as<float>(), max_model_len_, layer_k, layer_v, stream,
                        qkv_width);
    }
    profiler_.mark("rope_kv_write");
    if (overlap_attention) {
      // The decode rows on the side stream, the prefill rows here; both write their own rows.
      KILN_CUDA_CHECK(cudaEventRecord(fork_event_, stream));
      KILN_CUDA_CHECK(cudaStreamWaitEvent(side_stream_, fork_event_, 0));
      if (fp8_cache) {
        decode_attention(qkv, layer_cache, meta, shape, scale, attn, attention_workspace_.data(),
                         context_->info().num_sms, side_stream_, qkv_width, /*decode_only=*/true);
        prefill_attention(qkv, layer_cache, meta, shape, scale, attn, stream, qkv_width);
      } else {
        decode_attention(qkv, layer_k, layer_v, meta, shape, scale, attn, attention_workspace_.data(),
                         context_->info().num_sms, side_stream_, qkv_width, /*decode_only=*/true);
        prefill_attention(qkv, layer_k, layer_v, meta, shape, scale, attn, stream, qkv_width);
      }
      KILN_CUDA_CHECK(cudaEventRecord(join_event_, side_stream_));
      KILN_CUDA_CHECK(cudaStreamWaitEvent(stream, join_event_, 0));
    } else if (fp8_cache) {
      paged_attention(qkv, layer_cache, meta, shape, scale, attn, attention_workspace_.data(),
                      context_->info().num_sms, stream, qkv_width);
    } else {
      paged_attention(qkv, layer_k, layer_v, meta, shape, scale, attn,
                      attention_workspace_.data(), context_->info().num_sms, stream, qkv_width);
    }
    profiler_.mark("attention");
    linear_->run(attn, w.o_proj, nullptr, proj, num_tokens, c.hidden_size, c.q_size());
    profiler_.mark("o_proj");
    if (tp_ != nullptr) {
      all_reduce(proj, static_cast<size_t>(num_tokens) * c.hidden_size);  // row-parallel
      profiler_.mark("all_reduce");
    }
    add_rms_norm(residual, proj, w.post_attention_layernorm, num_tokens, c.hidden_size, eps, normed, stream);
    profiler_.mark("norm");
    if (linear_->fuses_silu_mul(w.gate_up_proj, num_tokens, c.hidden_size)) {
      // Decode at small batch: SwiGLU in the GEMV's epilogue, one kernel less per layer.
      linear_->run_silu_mul(normed, w.gate_up_proj, act, num_tokens, c.intermediate_size, c.hidden_size);
      profiler_.mark("gate_up_proj+silu_mul");
    } else {
      linear_->run(normed, w.gate_up_proj, nullptr, gate_up, num_tokens, 2 * c.intermediate_size, c.hidden_size);
      profiler_.mark("gate_up_proj");
      silu_and_mul(gate_up, gate_up + c.intermediate_size, num_tokens, c.intermediate_size,
                   2 * c.intermediate_size, act, stream);
      profiler_.mark("silu_mul");
    }
    linear_->run(act, w.down_proj, nullptr, proj, num_tokens, c.hidden_size, c.intermediate_size);
    profiler_.mark("down_proj");
    if (tp_ != nullptr) {
      all_reduce(proj, static_cast<size_t>(num_tokens) * c.hidden_size);  // row-parallel
      profiler_.mark("all_reduce");
    }
  }
  add_rms_norm(residual, proj, weights_.norm, num_tokens, c.hidden_size, eps, normed, stream);
  profiler_.mark("norm");
}

Status CudaModel::check_batch(const ForwardBatch& batch, int* max_seq_len, std::span<const int32_t> token_source) const {
  KILN_RETURN_IF_ERROR(validate_forward_batch(batch, config_.vocab_size, plan_.num_blocks, options_.block_size,
                                              token_source, num_previous_sampled_));
  if ((!batch.tree_parents.empty() || !batch.kv_move_from.empty()) && !options_.draft_trees) {
    // The engine drafts chains for this backend unless KILN_CUDA_SPEC_TREES=1 (engine_builder.cc).
    return Status::error("ForwardBatch: speculative draft trees (tree_parents, KV moves) need KILN_CUDA_SPEC_TREES=1 on the CUDA backend");
  }
  if (!batch.tree_parents.empty() &&
      !prefill_attention_supports(AttentionShape{local_.num_attention_heads, local_.num_key_value_heads, local_.head_dim})) {
    return Status::error("ForwardBatch: draft trees need the prefill attention kernel, which lacks this model's head shape");
  }
  if (batch.kv_move_from.size() > static_cast<size_t>(options_.max_num_batched_tokens)) {
    return Status::error("ForwardBatch: " + std::to_string(batch.kv_move_from.size()) + " KV moves exceed --max-num-batched-tokens");
  }
  if (batch.num_tokens() > options_.max_num_batched_tokens) {
    return Status::error("ForwardBatch: " + std::to_string(batch.num_tokens()) +
                         " tokens exceed --max-num-batched-tokens " + std::to_string(options_.max_num_batched_tokens));
  }
  if (batch.num_seqs() > options_.max_num_seqs ||
      batch.max_blocks_per_seq > (max_model_len_ + options_.block_size - 1) / options_.block_size) {
    return Status::error("ForwardBatch: more sequences or blocks per sequence than the model was sized for");
  }
  *max_seq_len = 0;
  for (int len : batch.seq_lens) *max_seq_len = std::max(*max_seq_len, len);
  if (*max_seq_len > max_model_len_) {
    return Status::error("ForwardBatch: a sequence of " + std::to_string(*max_seq_len) +
                         " tokens exceeds max_model_len " + std::to_string(max_model_len_));
  }
  return ok_status();
}

void CudaModel::compute_logits(int num_tokens, int begin, int rows) {
  const ModelConfig& c = config_;
  // Gather the rows that need logits (an embedding lookup over the final hidden states).
  embedding(normed_.as<bf16>(), num_tokens, logits_indices_ + begin, rows, c.hidden_size, logits_rows_.as<bf16>(),
            context_->stream());
  if (tp_ == nullptr) {
    linear_->run(logits_rows_.as<bf16>(), weights_.lm_head, nullptr, logits_.as<bf16>(), rows, c.vocab_size,
                 c.hidden_size);
    profiler_.mark("lm_head");
    return;
  }
  // Vocab-parallel lm_head: this rank's columns of the logits, gathered from every rank and put
  // side by side on rank 0. The gather's rows are vocab_rows_per_rank wide; only the last rank's
  // may hold fewer real columns.
  const int width = shard_.vocab_rows_per_rank;
  cudaStream_t stream = context_->stream();
  if (shard_.vocab_rows == width) {
    linear_->run(logits_rows_.as<bf16>(), weights_.lm_head, nullptr, logits_shard_.as<bf16>(), rows, width,
                 c.hidden_size);
  } else {
    linear_->run(logits_rows_.as<bf16>(), weights_.lm_head, nullptr, logits_.as<bf16>(), rows, shard_.vocab_rows,
                 c.hidden_size);
    KILN_CUDA_CHECK(cudaMemcpy2DAsync(logits_shard_.data(), static_cast<size_t>(width) * 2, logits_.data(),
                                      static_cast<size_t>(shard_.vocab_rows) * 2, static_cast<size_t>(shard_.vocab_rows) * 2,
                                      rows, cudaMemcpyDeviceToDevice, stream));
  }
  profiler_.mark("lm_head");
  const size_t rank_elements = static_cast<size_t>(rows) * width;
  tp_->collectives->all_gather(logits_shard_.as<bf16>(), rank_elements, logits_gathered_.as<bf16>(), stream);
  if (samples()) {
    for (int r = 0; r < tp_->size; ++r) {
      const int columns = std::min(width, c.vocab_size - r * width);
      KILN_CUDA_CHECK(cudaMemcpy2DAsync(logits_.as<bf16>() + static_cast<size_t>(r) * width,
                                        static_cast<size_t>(c.vocab_size) * 2,
                                        logits_gathered_.as<bf16>() + static_cast<size_t>(r) * rank_elements,
                                        static_cast<size_t>(width) * 2, static_cast<size_t>(columns) * 2, rows,
                                        cudaMemcpyDeviceToDevice, stream));
    }
  }
  profiler_.mark("gather_logits");
}

Status CudaModel::forward(const ForwardBatch& batch, std::vector<float>* logits) {
  const ModelConfig& c = config_;
  if (num_uncollected_steps() > 0) return Status::error("forward() while launched steps are uncollected");
  int max_seq_len = 0;
  KILN_RETURN_IF_ERROR(check_batch(batch, &max_seq_len));
  cudaStream_t stream = context_->stream();
  StepSlot& slot = launch_slot();
  KILN_CUDA_CHECK(cudaEventRecord(slot.begin, stream));
  profiler_.begin(stream);
  move_accepted_kv(batch);
  upload_batch(batch);
  profiler_.mark("upload");
  run_layers(batch.num_tokens(), max_seq_len);

  const int num_logits = static_cast<int>(batch.logits_indices.size());
  logits->resize(samples() ? static_cast<size_t>(num_logits) * c.vocab_size : 0);
  for (int begin = 0; begin < num_logits; begin += max_logit_rows_) {
    const int rows = std::min(max_logit_rows_, num_logits - begin);
    compute_logits(batch.num_tokens(), begin, rows);
    if (!samples()) continue;  // rank 0 returns the logits
    const size_t count = static_cast<size_t>(rows) * c.vocab_size;
    KILN_CUDA_CHECK(cudaMemcpyAsync(logits_host_, logits_.data(), count * 2, cudaMemcpyDeviceToHost, stream));
    KILN_CUDA_CHECK(cudaStreamSynchronize(stream));
    float* out = logits->data() + static_cast<size_t>(begin) * c.vocab_size;
    for (size_t i = 0; i < count; ++i) out[i] = bf16_to_f32(logits_host_[i]);
  }
  profiler_.end(batch.num_tokens(), batch.num_seqs());
  KILN_CUDA_CHECK(cudaEventRecord(slot.end, stream));
  KILN_CUDA_CHECK(cudaEventSynchronize(slot.end));
  add_busy_time(slot);
  // The step sampled nothing: a later step has nothing to feed from.
  num_previous_sampled_ = 0;
  return ok_status();
}

void CudaModel::add_busy_time(const StepSlot& slot) {
  float milliseconds = 0;
  KILN_CUDA_CHECK(cudaEventElapsedTime(&milliseconds, slot.begin, slot.end));
  busy_nanoseconds_ += static_cast<int64_t>(static_cast<double>(milliseconds) * 1e6);
}

}  // namespace kiln::cuda
