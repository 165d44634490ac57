#include "model/cpu_model.h"

#include "model/forward_batch_check.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/ops.h"
#include "model/kv_cache_scales.h"

namespace kiln {
namespace {

Status check_tensor(const TensorView& view, const std::vector<int64_t>& shape,
                    const std::string& name, bool fp8 = false) {
  if (view.empty()) return Status::error(name + " is missing");
  if (view.shape != shape) {
    return Status::error(name + " has shape " + shape_to_string(view.shape) + ", config implies " +
                         shape_to_string(shape));
  }
  if (fp8 && view.dtype == DType::kF8E4M3) return ok_status();
  if (view.dtype != DType::kF32 && view.dtype != DType::kBF16 && view.dtype != DType::kF16) {
    return Status::error(name + " has dtype " + std::string(dtype_name(view.dtype)) +
                         "; the CPU backend reads bf16, f16 and f32");
  }
  return ok_status();
}

// `c` is the rank's config (the whole model's without tensor parallelism), whose embed_tokens and
// lm_head hold `vocab_rows` rows.
Status check_weights(const ModelConfig& c, const ModelWeights& w, int64_t vocab_rows) {
  // FP8 codes are allowed where the checkpoint's quantization_config quantizes the linear.
  const auto fp8 = [&](const std::string& module) {
    return c.quantization.checkpoint_is_quantized() && c.quantization.is_quantized(module);
  };
  if (c.hidden_size <= 0 || c.intermediate_size <= 0 || c.num_hidden_layers <= 0 ||
      c.num_attention_heads <= 0 || c.num_key_value_heads <= 0 || c.vocab_size <= 0) {
    return Status::error("config.json: sizes must be positive");
  }
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    return Status::error("config.json: num_attention_heads (" +
                         std::to_string(c.num_attention_heads) +
                         ") is not a multiple of num_key_value_heads (" +
                         std::to_string(c.num_key_value_heads) + ")");
  }
  if (c.head_dim <= 0 || c.head_dim > 1024 || c.head_dim % 2 != 0) {
    return Status::error("config.json: head_dim " + std::to_string(c.head_dim) +
                         " is not supported by the CPU backend (even, at most 1024)");
  }
  const int64_t h = c.hidden_size, inter = c.intermediate_size, q = c.q_size(), kv = c.kv_size();
  KILN_RETURN_IF_ERROR(
      check_tensor(w.embed_tokens, {vocab_rows, h}, "model.embed_tokens.weight"));
  KILN_RETURN_IF_ERROR(check_tensor(w.norm, {h}, "model.norm.weight"));
  KILN_RETURN_IF_ERROR(check_tensor(w.lm_head, {vocab_rows, h}, "lm_head.weight", fp8("lm_head")));
  if (static_cast<int>(w.layers.size()) != c.num_hidden_layers) {
    return Status::error("weights hold " + std::to_string(w.layers.size()) +
                         " layers, config has " + std::to_string(c.num_hidden_layers));
  }
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    KILN_RETURN_IF_ERROR(check_tensor(l.input_layernorm, {h}, p + "input_layernorm.weight"));
    KILN_RETURN_IF_ERROR(check_tensor(l.q_proj, {q, h}, p + "self_attn.q_proj.weight", fp8(p + "self_attn.q_proj")));
    KILN_RETURN_IF_ERROR(check_tensor(l.k_proj, {kv, h}, p + "self_attn.k_proj.weight", fp8(p + "self_attn.k_proj")));
    KILN_RETURN_IF_ERROR(check_tensor(l.v_proj, {kv, h}, p + "self_attn.v_proj.weight", fp8(p + "self_attn.v_proj")));
    if (c.attention_bias) {
      KILN_RETURN_IF_ERROR(check_tensor(l.q_bias, {q}, p + "self_attn.q_proj.bias"));
      KILN_RETURN_IF_ERROR(check_tensor(l.k_bias, {kv}, p + "self_attn.k_proj.bias"));
      KILN_RETURN_IF_ERROR(check_tensor(l.v_bias, {kv}, p + "self_attn.v_proj.bias"));
    }
    KILN_RETURN_IF_ERROR(check_tensor(l.o_proj, {h, q}, p + "self_attn.o_proj.weight", fp8(p + "self_attn.o_proj")));
    KILN_RETURN_IF_ERROR(
        check_tensor(l.post_attention_layernorm, {h}, p + "post_attention_layernorm.weight"));
    KILN_RETURN_IF_ERROR(check_tensor(l.gate_proj, {inter, h}, p + "mlp.gate_proj.weight", fp8(p + "mlp.gate_proj")));
    KILN_RETURN_IF_ERROR(check_tensor(l.up_proj, {inter, h}, p + "mlp.up_proj.weight", fp8(p + "mlp.up_proj")));
    KILN_RETURN_IF_ERROR(check_tensor(l.down_proj, {h, inter}, p + "mlp.down_proj.weight", fp8(p + "mlp.down_proj")));
  }
  return ok_status();
}

void resize(std::vector<float>* buffer, int64_t rows, int64_t width) {
  buffer->resize(static_cast<size_t>(rows * width));
}

}  // namespace

Result<std::unique_ptr<CpuModel>> CpuModel::create(const ModelConfig& config,
                                                   const ModelWeights& weights,
                                                   const CpuModelOptions& options) {
  ShardShape shard = shard_shape(config, 0, 1);
  if (options.communicator != nullptr) {
    KILN_RETURN_IF_ERROR(check_tensor_parallel(config, options.communicator->world_size()));
    shard = shard_shape(config, options.communicator->rank(), options.communicator->world_size());
  }
  KILN_RETURN_IF_ERROR(check_weights(shard_config(config, shard), weights, shard.vocab_rows));
  if (options.num_blocks <= 0 || options.block_size <= 0) {
    return Status::error("CPU KV cache: num_blocks (" + std::to_string(options.num_blocks) +
                         ") and block_size (" + std::to_string(options.block_size) +
                         ") must be positive");
  }
  if (options.kv_cache_dtype != DType::kF32 && options.kv_cache_dtype != DType::kF8E4M3) {
    return Status::error(std::string("the CPU backend keeps its KV cache in float32 or fp8_e4m3, not ") +
                         std::string(dtype_name(options.kv_cache_dtype)));
  }
  if (!options.kv_scales.empty() && options.kv_scales.size() != 2 * static_cast<size_t>(config.num_hidden_layers)) {
    return Status::error("CPU KV cache: " + std::to_string(options.kv_scales.size()) + " KV scales for " +
                         std::to_string(config.num_hidden_layers) + " layers (a k and a v scale per layer)");
  }
  for (int layer : options.capture_layer_inputs) {
    if (layer < 0 || layer > config.num_hidden_layers) {
      return Status::error("hidden state capture: layer " + std::to_string(layer) + " is outside the model's 0.." +
                           std::to_string(config.num_hidden_layers));
    }
  }
  KILN_ASSIGN_OR_RETURN(RopeParameters rope, compute_rope_parameters(config));
  std::unique_ptr<CpuModel> model(new CpuModel(config, shard, weights, options, std::move(rope)));
  KILN_RETURN_IF_ERROR(model->create_linears());
  return model;
}

Status CpuModel::create_linears() {
  for (int i = 0; i < config_.num_hidden_layers; ++i) {
    const LayerWeights& l = weights_.layers[static_cast<size_t>(i)];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    LayerLinears layer;
    KILN_ASSIGN_OR_RETURN(layer.q, CpuLinear::create(ctx_, config_, p + "self_attn.q_proj", l.q_proj, l.q_proj_scales));
    KILN_ASSIGN_OR_RETURN(layer.k, CpuLinear::create(ctx_, config_, p + "self_attn.k_proj", l.k_proj, l.k_proj_scales));
    KILN_ASSIGN_OR_RETURN(layer.v, CpuLinear::create(ctx_, config_, p + "self_attn.v_proj", l.v_proj, l.v_proj_scales));
    KILN_ASSIGN_OR_RETURN(layer.o, CpuLinear::create(ctx_, config_, p + "self_attn.o_proj", l.o_proj, l.o_proj_scales));
    KILN_ASSIGN_OR_RETURN(layer.gate, CpuLinear::create(ctx_, config_, p + "mlp.gate_proj", l.gate_proj, l.gate_proj_scales));
    KILN_ASSIGN_OR_RETURN(layer.up, CpuLinear::create(ctx_, config_, p + "mlp.up_proj", l.up_proj, l.up_proj_scales));
    KILN_ASSIGN_OR_RETURN(layer.down, CpuLinear::create(ctx_, config_, p + "mlp.down_proj", l.down_proj, l.down_proj_scales));
    linears_.push_back(std::move(layer));
  }
  // A tied head is the embedding table, which stays in the checkpoint's dtype.
  if (config_.tie_word_embeddings && config_.quantization.is_quantized("lm_head")) {
    return Status::error("config.json: quantization_config quantizes lm_head, which is tied to embed_tokens; "
                         "add lm_head to its ignore list");
  }
  KILN_ASSIGN_OR_RETURN(lm_head_, CpuLinear::create(ctx_, config_, "lm_head", weights_.lm_head, weights_.lm_head_scales));
  return ok_status();
}

CpuModel::CpuModel(const ModelConfig& config, const ShardShape& shard, const ModelWeights& weights,
                   const CpuModelOptions& options, RopeParameters rope)
    : config_(config),
      shard_(shard),
      local_(shard_config(config, shard)),
      communicator_(options.communicator),
      weights_(weights),
      pool_(std::make_unique<cpu::ThreadPool>(options.num_threads)),
      ctx_{pool_.get(), options.isa.value_or(cpu::detect_isa())},
      kv_cache_(KvCacheShape{config.num_hidden_layers, options.num_blocks, options.block_size,
                             local_.num_key_value_heads, config.head_dim, options.kv_cache_dtype}),
      kv_scales_pending_(options.kv_cache_dtype == DType::kF8E4M3 && options.calculate_kv_scales),
      rope_table_(std::move(rope), config.head_dim),
      capture_layer_inputs_(options.capture_layer_inputs) {
  if (kv_cache_.fp8() && !options.kv_scales.empty()) kv_cache_.scales() = options.kv_scales;
}


Status CpuModel::forward(const ForwardBatch& batch, std::vector<float>* logits) {
  KILN_RETURN_IF_ERROR(validate_forward_batch(batch, config_.vocab_size, kv_cache_.shape().num_blocks,
                                              kv_cache_.shape().block_size));
  const ModelConfig& c = local_;
  const int n = batch.num_tokens();
  const int h = c.hidden_size;
  const int inter = c.intermediate_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const AttentionShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  PagedAttentionMetadata meta;
  meta.query_start = batch.query_start.data();
  meta.seq_lens = batch.seq_lens.data();
  meta.block_tables = batch.block_tables.data();
  meta.num_seqs = batch.num_seqs();
  meta.max_blocks_per_seq = batch.max_blocks_per_seq;
  meta.block_size = kv_cache_.shape().block_size;
  meta.num_tokens = n;
  for (int32_t len : batch.seq_lens) meta.max_seq_len = std::max(meta.max_seq_len, len);
  meta.tree_parents = batch.tree_parents.empty() ? nullptr : batch.tree_parents.data();
  const float scale = 1.0f / std::sqrt(static_cast<float>(c.head_dim));
  int max_position = 0;
  for (int32_t p : batch.positions) max_position = std::max(max_position, p);
  rope_table_.reserve(max_position + 1);

  resize(&residual_, n, h);
  resize(&normed_, n, h);
  resize(&q_, n, c.q_size());
  resize(&k_, n, c.kv_size());
  resize(&v_, n, c.kv_size());
  resize(&attn_, n, c.q_size());
  resize(&proj_, n, h);
  resize(&gate_, n, inter);
  resize(&up_, n, inter);
  resize(&act_, n, inter);

  if (!batch.kv_move_from.empty()) {  // accepted draft-tree nodes, before anything reads them
    const int64_t row_bytes = static_cast<int64_t>(c.kv_size()) * static_cast<int64_t>(dtype_size_bytes(kv_cache_.shape().dtype));
    for (int i = 0; i < c.num_hidden_layers; ++i) {
      void* k = kv_cache_.fp8() ? static_cast<void*>(kv_cache_.fp8_layer(i).k) : static_cast<void*>(kv_cache_.k(i));
      void* v = kv_cache_.fp8() ? static_cast<void*>(kv_cache_.fp8_layer(i).v) : static_cast<void*>(kv_cache_.v(i));
      cpu::move_kv(ctx_, k, v, row_bytes, batch.kv_move_from.data(), batch.kv_move_to.data(),
                   static_cast<int>(batch.kv_move_from.size()));
    }
  }
  if (communicator_ != nullptr) {
    // Vocab-parallel: each token's row comes from the one rank that holds it.
    cpu::embedding_shard(ctx_, weights_.embed_tokens, shard_.vocab_begin, batch.token_ids.data(), n, residual_.data());
    communicator_->all_reduce_sum(residual_.data(), residual_.size());
  } else {
    cpu::embedding(ctx_, weights_.embed_tokens, batch.token_ids.data(), n, residual_.data());
  }
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const LayerWeights& l = weights_.layers[static_cast<size_t>(i)];
    if (i == 0) {
      cpu::rms_norm(ctx_, residual_.data(), l.input_layernorm, n, h, eps, normed_.data());
    } else {  // proj_ holds the previous layer's MLP output
      cpu::add_rms_norm(ctx_, residual_.data(), proj_.data(), l.input_layernorm, n, h, eps,
                        normed_.data());
    }
    capture_hidden(i, n, nullptr);  // residual_ is the layer's input now
    const LayerLinears& linear = linears_[static_cast<size_t>(i)];
    linear.q.run(ctx_, normed_.data(), n, l.q_bias, q_.data());
    linear.k.run(ctx_, normed_.data(), n, l.k_bias, k_.data());
    linear.v.run(ctx_, normed_.data(), n, l.v_bias, v_.data());
    if (kv_cache_.fp8()) {
      const Fp8KvCacheLayer cache = kv_cache_.fp8_layer(i);
      cpu::rope_and_cache_kv(ctx_, q_.data(), k_.data(), v_.data(), batch.positions.data(), batch.slot_mapping.data(),
                             n, shape, rope_table_.data(), rope_table_.num_positions(), cache, kv_scales_pending_);
      cpu::paged_attention(ctx_, q_.data(), cache, meta, shape, scale, attn_.data());
    } else {
      cpu::rope_and_cache_kv(ctx_, q_.data(), k_.data(), v_.data(), batch.positions.data(),
                             batch.slot_mapping.data(), n, shape, rope_table_.data(),
                             rope_table_.num_positions(), kv_cache_.k(i), kv_cache_.v(i));
      cpu::paged_attention(ctx_, q_.data(), kv_cache_.k(i), kv_cache_.v(i), meta, shape, scale,
                           attn_.data());
    }
    linear.o.run(ctx_, attn_.data(), n, TensorView{}, proj_.data());
    if (communicator_ != nullptr) communicator_->all_reduce_sum(proj_.data(), proj_.size());  // row-parallel
    cpu::add_rms_norm(ctx_, residual_.data(), proj_.data(), l.post_attention_layernorm, n, h, eps,
                      normed_.data());
    linear.gate.run(ctx_, normed_.data(), n, TensorView{}, gate_.data());
    linear.up.run(ctx_, normed_.data(), n, TensorView{}, up_.data());
    cpu::silu_and_mul(ctx_, gate_.data(), up_.data(), n, inter, inter, act_.data());
    linear.down.run(ctx_, act_.data(), n, TensorView{}, proj_.data());
    if (communicator_ != nullptr) communicator_->all_reduce_sum(proj_.data(), proj_.size());  // row-parallel
  }

  capture_hidden(c.num_hidden_layers, n, proj_.data());

  if (kv_scales_pending_) {
    kv_scales_pending_ = false;
    // Under tensor parallelism each rank's scales cover its own KV heads (as vLLM's); rank 0 logs.
    if (shard_.rank == 0) log_calculated_kv_scales(kv_cache_.scales());
  }
  if (kv_cache_.saturated() && !warned_kv_saturation_) {
    warned_kv_saturation_ = true;
    warn_kv_cache_saturation();
  }

  // Only the rows that need logits go through the last residual add, norm and lm_head.
  const int num_logits = static_cast<int>(batch.logits_indices.size());
  std::vector<float> last_residual(static_cast<size_t>(num_logits) * h);
  std::vector<float> last_mlp(static_cast<size_t>(num_logits) * h);
  for (int r = 0; r < num_logits; ++r) {
    const size_t src = static_cast<size_t>(batch.logits_indices[static_cast<size_t>(r)]) * h;
    std::copy_n(residual_.data() + src, h, last_residual.data() + static_cast<size_t>(r) * h);
    std::copy_n(proj_.data() + src, h, last_mlp.data() + static_cast<size_t>(r) * h);
  }
  std::vector<float> final_normed(static_cast<size_t>(num_logits) * h);
  cpu::add_rms_norm(ctx_, last_residual.data(), last_mlp.data(), weights_.norm, num_logits, h, eps,
                    final_normed.data());
  if (communicator_ == nullptr) {
    logits->resize(static_cast<size_t>(num_logits) * c.vocab_size);
    lm_head_.run(ctx_, final_normed.data(), num_logits, TensorView{}, logits->data());
    return ok_status();
  }
  gather_logits(final_normed.data(), num_logits, logits);
  return ok_status();
}

void CpuModel::capture_hidden(int layer, int num_tokens, const float* pending) {
  if (capture_layer_inputs_.empty()) return;
  const size_t h = static_cast<size_t>(config_.hidden_size);
  const size_t width = capture_layer_inputs_.size() * h;
  captured_hidden_.resize(static_cast<size_t>(num_tokens) * width);
  for (size_t j = 0; j < capture_layer_inputs_.size(); ++j) {
    if (capture_layer_inputs_[j] != layer) continue;
    for (size_t t = 0; t < static_cast<size_t>(num_tokens); ++t) {
      const float* residual = residual_.data() + t * h;
      float* out = captured_hidden_.data() + t * width + j * h;
      for (size_t x = 0; x < h; ++x) out[x] = pending != nullptr ? residual[x] + pending[t * h + x] : residual[x];
    }
  }
}

void CpuModel::gather_logits(const float* final_normed, int num_logits, std::vector<float>* logits) {
  // Each rank's vocabulary rows of lm_head give its columns of the logits; rank 0 puts them side
  // by side (vocab-parallel lm_head; the sampling runs once, where rank 0's logits are).
  const size_t rows = static_cast<size_t>(num_logits);
  const size_t local = static_cast<size_t>(shard_.vocab_rows);
  const size_t width = static_cast<size_t>(shard_.vocab_rows_per_rank);
  const size_t size = static_cast<size_t>(shard_.size);
  std::vector<float> mine(rows * local);
  lm_head_.run(ctx_, final_normed, num_logits, TensorView{}, mine.data());
  shard_logits_.assign(rows * width, 0.0f);
  for (size_t r = 0; r < rows; ++r) std::copy_n(mine.data() + r * local, local, shard_logits_.data() + r * width);
  gathered_logits_.resize(size * rows * width);
  communicator_->all_gather(shard_logits_.data(), shard_logits_.size(), gathered_logits_.data());
  logits->clear();
  if (shard_.rank != 0) return;
  const size_t vocab = static_cast<size_t>(config_.vocab_size);
  logits->resize(rows * vocab);
  for (size_t rank = 0; rank < size; ++rank) {
    const size_t begin = rank * width;
    const size_t count = std::min(width, vocab - begin);  // the last rank's rows may be fewer
    for (size_t r = 0; r < rows; ++r) {
      std::copy_n(gathered_logits_.data() + (rank * rows + r) * width, count, logits->data() + r * vocab + begin);
    }
  }
}

}  // namespace kiln
