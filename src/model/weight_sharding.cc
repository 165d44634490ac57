#include "model/weight_sharding.h"

#include <cstring>
#include <string>

namespace kiln {
namespace {

// Rows [begin, begin + rows) of a matrix, or elements of a vector: a view into the same memory.
TensorView row_slice(const TensorView& t, int64_t begin, int64_t rows) {
  if (t.empty()) return t;
  TensorView view = t;
  const size_t row_bytes = t.size_bytes() / static_cast<size_t>(t.dim(0));
  view.data = static_cast<const uint8_t*>(t.data) + static_cast<size_t>(begin) * row_bytes;
  view.shape[0] = rows;
  return view;
}

// Columns [begin, begin + cols) of a matrix, copied into memory `shard` owns.
TensorView column_slice(const TensorView& t, int64_t begin, int64_t cols, WeightShard* shard) {
  if (t.empty()) return t;
  const int64_t rows = t.dim(0);
  const size_t element = dtype_size_bytes(t.dtype);
  const size_t source_row = static_cast<size_t>(t.dim(1)) * element;
  const size_t target_row = static_cast<size_t>(cols) * element;
  std::vector<uint8_t>& copy = shard->storage.emplace_back(static_cast<size_t>(rows) * target_row);
  const uint8_t* source = static_cast<const uint8_t*>(t.data) + static_cast<size_t>(begin) * element;
  for (int64_t r = 0; r < rows; ++r) {
    std::memcpy(copy.data() + static_cast<size_t>(r) * target_row, source + static_cast<size_t>(r) * source_row,
                target_row);
  }
  shard->copied_bytes += static_cast<int64_t>(copy.size());
  TensorView view = t;
  view.data = copy.data();
  view.shape = {rows, cols};
  return view;
}

// FP8 block scales split only where the 128 x 128 blocks do.
Status check_block_boundary(int64_t begin, int64_t count, int64_t total, int block, const std::string& name) {
  if (begin % block == 0 && (count % block == 0 || begin + count == total)) return ok_status();
  return Status::error(name + ": its FP8 weight scales cover " + std::to_string(block) + "-wide blocks, and this rank's slice [" +
                       std::to_string(begin) + ", " + std::to_string(begin + count) +
                       ") does not start and end on a block boundary; use a --tensor-parallel-size that splits it "
                       "into multiples of " + std::to_string(block));
}

int64_t blocks(int64_t elements, int block) { return (elements + block - 1) / block; }

class Sharder {
 public:
  Sharder(const ModelConfig& config, const ShardShape& shard, WeightShard* out)
      : config_(config), q_(config.quantization), shard_(shard), out_(out) {}

  // A column-parallel linear: output rows [begin, begin + rows).
  Status column_parallel(const std::string& module, const TensorView& weight, const LinearScales& scales,
                         int64_t begin, int64_t rows, TensorView* weight_out, LinearScales* scales_out) {
    *weight_out = row_slice(weight, begin, rows);
    *scales_out = scales;
    if (scales.weight_scale.empty()) return ok_status();
    if (q_.weight_scale == WeightScaleKind::kChannel) {
      scales_out->weight_scale = row_slice(scales.weight_scale, begin, rows);
    } else if (q_.weight_scale == WeightScaleKind::kBlock) {
      KILN_RETURN_IF_ERROR(check_block_boundary(begin, rows, weight.dim(0), q_.block_rows, module + ".weight"));
      scales_out->weight_scale = row_slice(scales.weight_scale, begin / q_.block_rows, blocks(rows, q_.block_rows));
    }
    return ok_status();
  }

  // A row-parallel linear: input columns [begin, begin + cols).
  Status row_parallel(const std::string& module, const TensorView& weight, const LinearScales& scales, int64_t begin,
                      int64_t cols, TensorView* weight_out, LinearScales* scales_out) {
    *weight_out = column_slice(weight, begin, cols, out_);
    *scales_out = scales;
    if (!scales.weight_scale.empty() && q_.weight_scale == WeightScaleKind::kBlock) {
      KILN_RETURN_IF_ERROR(check_block_boundary(begin, cols, weight.dim(1), q_.block_cols, module + ".weight"));
      scales_out->weight_scale =
          column_slice(scales.weight_scale, begin / q_.block_cols, blocks(cols, q_.block_cols), out_);
    }
    return ok_status();
  }

  Status layer(int index, const LayerWeights& w, LayerWeights* s) {
    const std::string p = "model.layers." + std::to_string(index) + ".";
    const int64_t hd = config_.head_dim;
    const int64_t q_begin = shard_.head_begin * hd, q_rows = shard_.num_heads * hd;
    const int64_t kv_begin = shard_.kv_head_begin * hd, kv_rows = shard_.num_kv_heads * hd;
    const int64_t i_begin = shard_.intermediate_begin, i_rows = shard_.intermediate_size;
    *s = w;  // norms and KV cache scales are whole on every rank
    KILN_RETURN_IF_ERROR(column_parallel(p + "self_attn.q_proj", w.q_proj, w.q_proj_scales, q_begin, q_rows, &s->q_proj,
                                         &s->q_proj_scales));
    KILN_RETURN_IF_ERROR(column_parallel(p + "self_attn.k_proj", w.k_proj, w.k_proj_scales, kv_begin, kv_rows,
                                         &s->k_proj, &s->k_proj_scales));
    KILN_RETURN_IF_ERROR(column_parallel(p + "self_attn.v_proj", w.v_proj, w.v_proj_scales, kv_begin, kv_rows,
                                         &s->v_proj, &s->v_proj_scales));
    s->q_bias = row_slice(w.q_bias, q_begin, q_rows);
    s->k_bias = row_slice(w.k_bias, kv_begin, kv_rows);
    s->v_bias = row_slice(w.v_bias, kv_begin, kv_rows);
    KILN_RETURN_IF_ERROR(row_parallel(p + "self_attn.o_proj", w.o_proj, w.o_proj_scales, q_begin, q_rows, &s->o_proj,
                                      &s->o_proj_scales));
    KILN_RETURN_IF_ERROR(column_parallel(p + "mlp.gate_proj", w.gate_proj, w.gate_proj_scales, i_begin, i_rows,
                                         &s->gate_proj, &s->gate_proj_scales));
    KILN_RETURN_IF_ERROR(column_parallel(p + "mlp.up_proj", w.up_proj, w.up_proj_scales, i_begin, i_rows, &s->up_proj,
                                         &s->up_proj_scales));
    return row_parallel(p + "mlp.down_proj", w.down_proj, w.down_proj_scales, i_begin, i_rows, &s->down_proj,
                        &s->down_proj_scales);
  }

 private:
  const ModelConfig& config_;
  const QuantizationConfig& q_;
  const ShardShape& shard_;
  WeightShard* out_;
};

}  // namespace

Result<std::unique_ptr<WeightShard>> shard_model_weights(const ModelConfig& config, const ModelWeights& weights,
                                                         const ShardShape& shard) {
  auto out = std::make_unique<WeightShard>();
  if (shard.size == 1) {
    out->weights = weights;
    return out;
  }
  if (static_cast<int>(weights.layers.size()) != config.num_hidden_layers) {
    return Status::error("weights hold " + std::to_string(weights.layers.size()) + " layers, config has " +
                         std::to_string(config.num_hidden_layers));
  }
  Sharder sharder(config, shard, out.get());
  ModelWeights& s = out->weights;
  s.embed_tokens = row_slice(weights.embed_tokens, shard.vocab_begin, shard.vocab_rows);
  s.norm = weights.norm;
  s.layers.resize(weights.layers.size());
  for (size_t i = 0; i < weights.layers.size(); ++i) {
    KILN_RETURN_IF_ERROR(sharder.layer(static_cast<int>(i), weights.layers[i], &s.layers[i]));
  }
  if (config.tie_word_embeddings) {
    s.lm_head = s.embed_tokens;
  } else {
    KILN_RETURN_IF_ERROR(sharder.column_parallel("lm_head", weights.lm_head, weights.lm_head_scales,
                                                 shard.vocab_begin, shard.vocab_rows, &s.lm_head, &s.lm_head_scales));
  }
  return out;
}

int64_t shard_weight_bytes(const ModelWeights& w, bool tied) {
  int64_t bytes = 0;
  const auto add = [&](const TensorView& t) { bytes += static_cast<int64_t>(t.empty() ? 0 : t.size_bytes()); };
  const auto add_scales = [&](const LinearScales& s) {
    add(s.weight_scale);
    add(s.input_scale);
  };
  add(w.embed_tokens);
  add(w.norm);
  if (!tied) {
    add(w.lm_head);
    add_scales(w.lm_head_scales);
  }
  for (const LayerWeights& l : w.layers) {
    for (const TensorView* t : {&l.input_layernorm, &l.q_proj, &l.k_proj, &l.v_proj, &l.q_bias, &l.k_bias, &l.v_bias,
                                &l.o_proj, &l.post_attention_layernorm, &l.gate_proj, &l.up_proj, &l.down_proj,
                                &l.k_cache_scale, &l.v_cache_scale}) {
      add(*t);
    }
    for (const LinearScales* sc : {&l.q_proj_scales, &l.k_proj_scales, &l.v_proj_scales, &l.o_proj_scales,
                                   &l.gate_proj_scales, &l.up_proj_scales, &l.down_proj_scales}) {
      add_scales(*sc);
    }
  }
  return bytes;
}

}  // namespace kiln
