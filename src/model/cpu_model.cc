#include "model/cpu_model.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/ops.h"

namespace kiln {
namespace {

Status check_tensor(const TensorView& view, const std::vector<int64_t>& shape,
                    const std::string& name) {
  if (view.empty()) return Status::error(name + " is missing");
  if (view.shape != shape) {
    return Status::error(name + " has shape " + shape_to_string(view.shape) + ", config implies " +
                         shape_to_string(shape));
  }
  if (view.dtype != DType::kF32 && view.dtype != DType::kBF16 && view.dtype != DType::kF16) {
    return Status::error(name + " has dtype " + std::string(dtype_name(view.dtype)) +
                         "; the CPU backend reads bf16, f16 and f32");
  }
  return ok_status();
}

Status check_weights(const ModelConfig& c, const ModelWeights& w) {
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
  const int64_t h = c.hidden_size, inter = c.intermediate_size, q = c.q_size(), kv = c.kv_size();
  KILN_RETURN_IF_ERROR(check_tensor(w.embed_tokens, {c.vocab_size, h}, "model.embed_tokens.weight"));
  KILN_RETURN_IF_ERROR(check_tensor(w.norm, {h}, "model.norm.weight"));
  KILN_RETURN_IF_ERROR(check_tensor(w.lm_head, {c.vocab_size, h}, "lm_head.weight"));
  if (static_cast<int>(w.layers.size()) != c.num_hidden_layers) {
    return Status::error("weights hold " + std::to_string(w.layers.size()) + " layers, config has " +
                         std::to_string(c.num_hidden_layers));
  }
  for (size_t i = 0; i < w.layers.size(); ++i) {
    const LayerWeights& l = w.layers[i];
    const std::string p = "model.layers." + std::to_string(i) + ".";
    KILN_RETURN_IF_ERROR(check_tensor(l.input_layernorm, {h}, p + "input_layernorm.weight"));
    KILN_RETURN_IF_ERROR(check_tensor(l.q_proj, {q, h}, p + "self_attn.q_proj.weight"));
    KILN_RETURN_IF_ERROR(check_tensor(l.k_proj, {kv, h}, p + "self_attn.k_proj.weight"));
    KILN_RETURN_IF_ERROR(check_tensor(l.v_proj, {kv, h}, p + "self_attn.v_proj.weight"));
    if (c.attention_bias) {
      KILN_RETURN_IF_ERROR(check_tensor(l.q_bias, {q}, p + "self_attn.q_proj.bias"));
      KILN_RETURN_IF_ERROR(check_tensor(l.k_bias, {kv}, p + "self_attn.k_proj.bias"));
      KILN_RETURN_IF_ERROR(check_tensor(l.v_bias, {kv}, p + "self_attn.v_proj.bias"));
    }
    KILN_RETURN_IF_ERROR(check_tensor(l.o_proj, {h, q}, p + "self_attn.o_proj.weight"));
    KILN_RETURN_IF_ERROR(
        check_tensor(l.post_attention_layernorm, {h}, p + "post_attention_layernorm.weight"));
    KILN_RETURN_IF_ERROR(check_tensor(l.gate_proj, {inter, h}, p + "mlp.gate_proj.weight"));
    KILN_RETURN_IF_ERROR(check_tensor(l.up_proj, {inter, h}, p + "mlp.up_proj.weight"));
    KILN_RETURN_IF_ERROR(check_tensor(l.down_proj, {h, inter}, p + "mlp.down_proj.weight"));
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
  KILN_RETURN_IF_ERROR(check_weights(config, weights));
  if (options.num_blocks <= 0 || options.block_size <= 0) {
    return Status::error("CPU KV cache: num_blocks (" + std::to_string(options.num_blocks) +
                         ") and block_size (" + std::to_string(options.block_size) +
                         ") must be positive");
  }
  KILN_ASSIGN_OR_RETURN(RopeParameters rope, compute_rope_parameters(config));
  return std::unique_ptr<CpuModel>(new CpuModel(config, weights, options, std::move(rope)));
}

CpuModel::CpuModel(const ModelConfig& config, const ModelWeights& weights,
                   const CpuModelOptions& options, RopeParameters rope)
    : config_(config),
      weights_(weights),
      pool_(std::make_unique<cpu::ThreadPool>(options.num_threads)),
      ctx_{pool_.get(), options.isa.value_or(cpu::detect_isa())},
      kv_cache_(KvCacheShape{config.num_hidden_layers, options.num_blocks, options.block_size,
                             config.num_key_value_heads, config.head_dim}),
      rope_table_(std::move(rope), config.head_dim) {}

Status CpuModel::validate(const ForwardBatch& b) const {
  const int num_tokens = b.num_tokens();
  const int num_seqs = b.num_seqs();
  const KvCacheShape& cache = kv_cache_.shape();
  auto fail = [](const std::string& message) { return Status::error("ForwardBatch: " + message); };
  if (num_tokens == 0) return fail("no tokens");
  if (b.positions.size() != b.token_ids.size() || b.slot_mapping.size() != b.token_ids.size()) {
    return fail("token_ids, positions and slot_mapping differ in length");
  }
  if (b.query_start.size() != static_cast<size_t>(num_seqs) + 1 || b.query_start[0] != 0 ||
      b.query_start[static_cast<size_t>(num_seqs)] != num_tokens) {
    return fail("query_start must hold num_seqs + 1 offsets from 0 to num_tokens");
  }
  if (b.max_blocks_per_seq <= 0 ||
      b.block_tables.size() != static_cast<size_t>(num_seqs) * b.max_blocks_per_seq) {
    return fail("block_tables must be [num_seqs, max_blocks_per_seq]");
  }
  for (int s = 0; s < num_seqs; ++s) {
    const int begin = b.query_start[static_cast<size_t>(s)];
    const int end = b.query_start[static_cast<size_t>(s) + 1];
    const int seq_len = b.seq_lens[static_cast<size_t>(s)];
    const std::string seq = "sequence " + std::to_string(s);
    if (end < begin) return fail("query_start decreases at " + seq);
    if (seq_len < end - begin) return fail(seq + " has fewer tokens than this step adds");
    if (seq_len > static_cast<int64_t>(b.max_blocks_per_seq) * cache.block_size) {
      return fail(seq + " of " + std::to_string(seq_len) + " tokens exceeds its block table");
    }
    const int32_t* table = b.block_tables.data() + static_cast<size_t>(s) * b.max_blocks_per_seq;
    for (int j = 0; j < (seq_len + cache.block_size - 1) / cache.block_size; ++j) {
      if (table[j] < 0 || table[j] >= cache.num_blocks) {
        return fail(seq + " block " + std::to_string(j) + " has id " + std::to_string(table[j]) +
                    " outside the cache's " + std::to_string(cache.num_blocks) + " blocks");
      }
    }
    for (int t = begin; t < end; ++t) {
      const int position = seq_len - (end - begin) + (t - begin);
      const std::string token = "token " + std::to_string(t) + " (" + seq + ")";
      if (b.positions[static_cast<size_t>(t)] != position) {
        return fail(token + " has position " + std::to_string(b.positions[static_cast<size_t>(t)]) +
                    ", seq_lens implies " + std::to_string(position));
      }
      const int64_t slot =
          static_cast<int64_t>(table[position / cache.block_size]) * cache.block_size +
          position % cache.block_size;
      if (b.slot_mapping[static_cast<size_t>(t)] != slot) {
        return fail(token + " has slot " + std::to_string(b.slot_mapping[static_cast<size_t>(t)]) +
                    ", its block table implies " + std::to_string(slot));
      }
      const int id = b.token_ids[static_cast<size_t>(t)];
      if (id < 0 || id >= config_.vocab_size) {
        return fail(token + " has id " + std::to_string(id) + " outside the vocabulary of " +
                    std::to_string(config_.vocab_size));
      }
    }
  }
  for (int32_t row : b.logits_indices) {
    if (row < 0 || row >= num_tokens) {
      return fail("logits index " + std::to_string(row) + " outside [0, " +
                  std::to_string(num_tokens) + ")");
    }
  }
  return ok_status();
}

Status CpuModel::forward(const ForwardBatch& batch, std::vector<float>* logits) {
  KILN_RETURN_IF_ERROR(validate(batch));
  const ModelConfig& c = config_;
  const int n = batch.num_tokens();
  const int h = c.hidden_size;
  const int inter = c.intermediate_size;
  const float eps = static_cast<float>(c.rms_norm_eps);
  const AttentionShape shape{c.num_attention_heads, c.num_key_value_heads, c.head_dim};
  const PagedAttentionMetadata meta{batch.query_start.data(), batch.seq_lens.data(),
                                    batch.block_tables.data(), batch.num_seqs(),
                                    batch.max_blocks_per_seq, kv_cache_.shape().block_size};
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

  cpu::embedding(ctx_, weights_.embed_tokens, batch.token_ids.data(), n, residual_.data());
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const LayerWeights& l = weights_.layers[static_cast<size_t>(i)];
    if (i == 0) {
      cpu::rms_norm(ctx_, residual_.data(), l.input_layernorm, n, h, eps, normed_.data());
    } else {  // proj_ holds the previous layer's MLP output
      cpu::add_rms_norm(ctx_, residual_.data(), proj_.data(), l.input_layernorm, n, h, eps,
                        normed_.data());
    }
    cpu::matmul(ctx_, normed_.data(), n, h, l.q_proj, l.q_bias, q_.data());
    cpu::matmul(ctx_, normed_.data(), n, h, l.k_proj, l.k_bias, k_.data());
    cpu::matmul(ctx_, normed_.data(), n, h, l.v_proj, l.v_bias, v_.data());
    cpu::rope_and_cache_kv(ctx_, q_.data(), k_.data(), v_.data(), batch.positions.data(),
                           batch.slot_mapping.data(), n, shape, rope_table_.data(),
                           rope_table_.num_positions(), kv_cache_.k(i), kv_cache_.v(i));
    cpu::paged_attention(ctx_, q_.data(), kv_cache_.k(i), kv_cache_.v(i), meta, shape, scale,
                         attn_.data());
    cpu::matmul(ctx_, attn_.data(), n, c.q_size(), l.o_proj, TensorView{}, proj_.data());
    cpu::add_rms_norm(ctx_, residual_.data(), proj_.data(), l.post_attention_layernorm, n, h, eps,
                      normed_.data());
    cpu::matmul(ctx_, normed_.data(), n, h, l.gate_proj, TensorView{}, gate_.data());
    cpu::matmul(ctx_, normed_.data(), n, h, l.up_proj, TensorView{}, up_.data());
    cpu::silu_and_mul(ctx_, gate_.data(), up_.data(), n, inter, inter, act_.data());
    cpu::matmul(ctx_, act_.data(), n, inter, l.down_proj, TensorView{}, proj_.data());
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
  logits->resize(static_cast<size_t>(num_logits) * c.vocab_size);
  cpu::matmul(ctx_, final_normed.data(), num_logits, h, weights_.lm_head, TensorView{},
              logits->data());
  return ok_status();
}

}  // namespace kiln
