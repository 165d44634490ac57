#include "model/weight_specs.h"

namespace kiln {

std::vector<WeightSpec> model_weight_specs(const ModelConfig& config) {
  const int64_t hidden = config.hidden_size;
  const int64_t intermediate = config.intermediate_size;
  const int64_t q_size = config.q_size();
  const int64_t kv_size = config.kv_size();
  std::vector<WeightSpec> specs;
  specs.push_back({"model.embed_tokens.weight", {config.vocab_size, hidden}, WeightKind::kMatrix});
  for (int layer = 0; layer < config.num_hidden_layers; ++layer) {
    const std::string prefix = "model.layers." + std::to_string(layer) + ".";
    specs.push_back({prefix + "input_layernorm.weight", {hidden}, WeightKind::kNorm});
    specs.push_back({prefix + "self_attn.q_proj.weight", {q_size, hidden}, WeightKind::kMatrix});
    if (config.attention_bias) {
      specs.push_back({prefix + "self_attn.q_proj.bias", {q_size}, WeightKind::kBias});
    }
    specs.push_back({prefix + "self_attn.k_proj.weight", {kv_size, hidden}, WeightKind::kMatrix});
    if (config.attention_bias) {
      specs.push_back({prefix + "self_attn.k_proj.bias", {kv_size}, WeightKind::kBias});
    }
    specs.push_back({prefix + "self_attn.v_proj.weight", {kv_size, hidden}, WeightKind::kMatrix});
    if (config.attention_bias) {
      specs.push_back({prefix + "self_attn.v_proj.bias", {kv_size}, WeightKind::kBias});
    }
    specs.push_back({prefix + "self_attn.o_proj.weight", {hidden, q_size}, WeightKind::kMatrix});
    specs.push_back({prefix + "post_attention_layernorm.weight", {hidden}, WeightKind::kNorm});
    specs.push_back({prefix + "mlp.gate_proj.weight", {intermediate, hidden}, WeightKind::kMatrix});
    specs.push_back({prefix + "mlp.up_proj.weight", {intermediate, hidden}, WeightKind::kMatrix});
    specs.push_back({prefix + "mlp.down_proj.weight", {hidden, intermediate}, WeightKind::kMatrix});
  }
  specs.push_back({"model.norm.weight", {hidden}, WeightKind::kNorm});
  if (!config.tie_word_embeddings) {
    specs.push_back({"lm_head.weight", {config.vocab_size, hidden}, WeightKind::kMatrix});
  }
  return specs;
}

bool is_ignorable_tensor(const std::string& name) {
  const std::string suffix = "rotary_emb.inv_freq";
  return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace kiln
