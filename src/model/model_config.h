// The model's shape and numerics as read from a Hugging Face config.json. Both the classic keys
// (rope_theta, rope_scaling, torch_dtype) and the transformers-5 keys (rope_parameters, dtype)
// are read; the parser lives in model_config.cc.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "model/quant/quantization_config.h"
#include "tensor/dtype.h"

namespace kiln {

enum class Architecture { kLlama, kQwen2 };

enum class RopeType { kDefault, kLinear, kLlama3, kYarn };

struct RopeScaling {
  RopeType type = RopeType::kDefault;
  double factor = 1.0;                          // linear, llama3, yarn
  double low_freq_factor = 1.0;                 // llama3
  double high_freq_factor = 4.0;                // llama3
  int original_max_position_embeddings = 0;     // llama3, yarn
  double beta_fast = 32.0;                      // yarn
  double beta_slow = 1.0;                       // yarn
  std::optional<double> attention_factor;       // yarn; default 0.1 * ln(factor) + 1
};

struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  std::string architecture_name;  // as written in config.json, e.g. "LlamaForCausalLM"
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;  // hidden_size / num_attention_heads unless config.json says otherwise
  int vocab_size = 0;
  double rms_norm_eps = 1e-6;
  int max_position_embeddings = 0;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q/k/v biases; true for Qwen2
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  DType dtype = DType::kBF16;  // the checkpoint's torch_dtype / dtype
  std::optional<int> bos_token_id;
  std::vector<int> eos_token_ids;
  std::string model_type;  // "llama", "qwen2"
  // Qwen2's sliding-window attention; kiln runs only full attention, so a config that turns
  // it on is rejected by the parser.
  bool use_sliding_window = false;
  int sliding_window = 0;
  // config.json's quantization_config (FP8 checkpoints), or online FP8 from --quantization fp8.
  QuantizationConfig quantization;

  int q_size() const { return num_attention_heads * head_dim; }
  int kv_size() const { return num_key_value_heads * head_dim; }
};

// The architectures kiln runs, for error messages: "LlamaForCausalLM, Qwen2ForCausalLM".
std::string supported_architectures();

// Parses and validates (positive sizes, heads divide, supported rope and activation). `source`
// names the file in error messages: "config.json: num_key_value_heads (5) must divide ...".
Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& source);
Result<ModelConfig> load_model_config(const std::filesystem::path& config_json);

}  // namespace kiln
