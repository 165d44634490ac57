#include "model/weight_specs.h"

namespace kiln {
namespace {

// Appends the weight of the linear `module` ([out, in]) and, when the checkpoint quantizes it,
// its scales.
void add_linear(const ModelConfig& config, const std::string& module, int64_t out, int64_t in,
                std::vector<WeightSpec>* specs) {
  const QuantizationConfig& q = config.quantization;
  const std::string weight = module + ".weight";
  if (!q.checkpoint_is_quantized() || !q.is_quantized(module)) {
    specs->push_back({weight, {out, in}, WeightKind::kMatrix, std::nullopt, ""});
    return;
  }
  specs->push_back({weight, {out, in}, WeightKind::kFp8Matrix, DType::kF8E4M3, ""});
  const std::string scale = module + "." + q.weight_scale_suffix();
  switch (q.weight_scale) {
    case WeightScaleKind::kChannel:
      specs->push_back({scale, {out, 1}, WeightKind::kWeightScale, std::nullopt, weight});
      break;
    case WeightScaleKind::kTensor:
      specs->push_back({scale, {1}, WeightKind::kWeightScale, std::nullopt, weight});
      break;
    case WeightScaleKind::kBlock: {
      const int64_t rows = (out + q.block_rows - 1) / q.block_rows, cols = (in + q.block_cols - 1) / q.block_cols;
      // DeepSeek's weight_scale_inv is F32; compressed-tensors writes its scales in the model's dtype.
      const std::optional<DType> dtype =
          q.method == QuantMethod::kFp8 ? std::optional<DType>(DType::kF32) : std::nullopt;
      specs->push_back({scale, {rows, cols}, WeightKind::kWeightScale, dtype, weight});
      break;
    }
  }
  if (q.activation == ActivationScheme::kStaticPerTensor) {
    specs->push_back({module + ".input_scale", {1}, WeightKind::kInputScale, std::nullopt, weight});
  }
}

}  // namespace

std::vector<WeightSpec> model_weight_specs(const ModelConfig& config) {
  const int64_t hidden = config.hidden_size;
  const int64_t intermediate = config.intermediate_size;
  const int64_t q_size = config.q_size();
  const int64_t kv_size = config.kv_size();
  std::vector<WeightSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {config.vocab_size, hidden}, WeightKind::kMatrix, std::nullopt, ""});
  for (int layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".";
    specs.push_back({prefix + "input_layernorm.weight", {hidden}, WeightKind::kNorm, std::nullopt, ""});
    add_linear(config, prefix + "self_attn.q_proj", q_size, hidden, &specs);
    if (config.attention_bias) {
      specs.push_back({prefix + "self_attn.q_proj.bias", {q_size}, WeightKind::kBias, std::nullopt, ""});
    }
    add_linear(config, prefix + "self_attn.k_proj", kv_size, hidden, &specs);
    if (config.attention_bias) {
      specs.push_back({prefix + "self_attn.k_proj.bias", {kv_size}, WeightKind::kBias, std::nullopt, ""});
    }
    add_linear(config, prefix + "self_attn.v_proj", kv_size, hidden, &specs);
    if (config.attention_bias) {
      specs.push_back({prefix + "self_attn.v_proj.bias", {kv_size}, WeightKind::kBias, std::nullopt, ""});
    }
    add_linear(config, prefix + "self_attn.o_proj", hidden, q_size, &specs);
    if (config.quantization.kv_cache_scales) {
      // Calibrated for an FP8 KV cache: the scale of this layer's K and V (after k_proj, v_proj).
      specs.push_back({prefix + "self_attn.k_scale", {1}, WeightKind::kKvCacheScale, std::nullopt, ""});
      specs.push_back({prefix + "self_attn.v_scale", {1}, WeightKind::kKvCacheScale, std::nullopt, ""});
    }
    specs.push_back({prefix + "post_attention_layernorm.weight", {hidden}, WeightKind::kNorm, std::nullopt, ""});
    add_linear(config, prefix + "mlp.gate_proj", intermediate, hidden, &specs);
    add_linear(config, prefix + "mlp.up_proj", intermediate, hidden, &specs);
    add_linear(config, prefix + "mlp.down_proj", hidden, intermediate, &specs);
  }
  specs.push_back({"model.norm.weight", {hidden}, WeightKind::kNorm, std::nullopt, ""});
  if (!config.tie_word_embeddings) add_linear(config, "lm_head", config.vocab_size, hidden, &specs);
  return specs;
}

bool is_ignorable_tensor(const std::string& name) {
  // Rotary inv_freq buffers, and the query scale of KV-cache-calibrated checkpoints (for
  // attention in FP8, which kiln does not do: its queries stay bf16).
  for (const std::string suffix : {"rotary_emb.inv_freq", "self_attn.q_scale"}) {
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      return true;
    }
  }
  return false;
}

}  // namespace kiln
