// Reads a Hugging Face config.json into ModelConfig. Field defaults follow transformers'
// LlamaConfig and Qwen2Config; anything kiln cannot run (other architectures, sliding windows,
// biases Llama's o_proj/MLP would need, rope types other than default/linear/llama3/yarn) is an
// error naming the field rather than a silently wrong model.
#include "model/model_config.h"

#include <climits>
#include <cmath>
#include <cstdint>
#include <fstream>
#include <limits>
#include <sstream>

#include <nlohmann/json.hpp>

#include "base/file_reading.h"
#include "base/json_nesting.h"

namespace kiln {
namespace {

using Json = nlohmann::json;

// Sanity bounds on config.json's sizes (the largest real models are far below them).
constexpr int kMaxModelDimension = 1 << 18;     // hidden, intermediate, heads x head_dim
constexpr int kMaxNumLayers = 4096;
constexpr int kMaxVocabSize = 1 << 24;
constexpr int kMaxPositionEmbeddings = 1 << 26;  // 64M tokens

struct ArchitectureInfo {
  const char* name;
  Architecture architecture;
  const char* model_type;
};

constexpr ArchitectureInfo kArchitectures[] = {
    {"LlamaForCausalLM", Architecture::kLlama, "llama"},
    {"Qwen2ForCausalLM", Architecture::kQwen2, "qwen2"},
};

// Typed access to one JSON object with errors that name the file and the key path.
class FieldReader {
 public:
  FieldReader(const Json& object, std::string source, std::string prefix)
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  bool has(const char* key) const {
    const auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
  }
  Status error(const char* key, const std::string& what) const {
    return Status::error(source_ + ": " + prefix_ + key + " " + what);
  }

  Result<int64_t> integer(const char* key) const {
    const Json& value = object_.at(key);
    if (value.is_number_integer()) return value.get<int64_t>();
    if (value.is_number_float()) {
      const double number = value.get<double>();
      if (std::isfinite(number) && number == std::floor(number) && std::fabs(number) < 9e15) {
        return static_cast<int64_t>(number);
      }
    }
    return error(key, "must be an integer, got " + value.dump());
  }
  Status read_int(const char* key, int* target, bool required) const {
    if (!has(key)) return required ? error(key, "is missing") : ok_status();
    KILN_ASSIGN_OR_RETURN(const int64_t value, integer(key));
    if (value < std::numeric_limits<int>::min() || value > std::numeric_limits<int>::max()) {
      return error(key, "is out of range: " + std::to_string(value));
    }
    *target = static_cast<int>(value);
    return ok_status();
  }
  Status read_double(const char* key, double* target) const {
    if (!has(key)) return ok_status();
    const Json& value = object_.at(key);
    if (!value.is_number() || !std::isfinite(value.get<double>())) {
      return error(key, "must be a number, got " + value.dump());
    }
    *target = value.get<double>();
    return ok_status();
  }
  Status read_bool(const char* key, bool* target) const {
    if (!has(key)) return ok_status();
    const Json& value = object_.at(key);
    if (!value.is_boolean()) return error(key, "must be true or false, got " + value.dump());
    *target = value.get<bool>();
    return ok_status();
  }
  Status read_string(const char* key, std::string* target) const {
    if (!has(key)) return ok_status();
    const Json& value = object_.at(key);
    if (!value.is_string()) return error(key, "must be a string, got " + value.dump());
    *target = value.get<std::string>();
    return ok_status();
  }

 private:
  const Json& object_;
  std::string source_;
  std::string prefix_;
};

Status parse_architecture(const Json& root, const std::string& source, ModelConfig* config) {
  std::string name;
  const auto architectures = root.find("architectures");
  if (architectures != root.end() && !architectures->is_null()) {
    if (!architectures->is_array() || architectures->empty() || !(*architectures)[0].is_string()) {
      return Status::error(source + ": architectures must be a list of class names, got " +
                           architectures->dump());
    }
    name = (*architectures)[0].get<std::string>();
  } else {
    // Some hand-written configs carry only model_type.
    const auto model_type = root.find("model_type");
    if (model_type == root.end() || !model_type->is_string()) {
      return Status::error(source + ": architectures is missing (supported: " +
                           supported_architectures() + ")");
    }
    for (const ArchitectureInfo& info : kArchitectures) {
      if (model_type->get<std::string>() == info.model_type) name = info.name;
    }
    if (name.empty()) {
      return Status::error(source + ": unsupported model_type '" + model_type->get<std::string>() +
                           "' (supported: " + supported_architectures() + ")");
    }
  }
  for (const ArchitectureInfo& info : kArchitectures) {
    if (name == info.name) {
      config->architecture = info.architecture;
      config->architecture_name = name;
      config->model_type = info.model_type;
      return ok_status();
    }
  }
  return Status::error(source + ": unsupported architecture " + name + " (supported: " +
                       supported_architectures() + ")");
}

// Reads rope_scaling (classic) or rope_parameters (transformers 5), which share their keys
// except that rope_parameters also holds rope_theta.
Status parse_rope(const Json& root, const std::string& source, ModelConfig* config) {
  const FieldReader top(root, source, "");
  KILN_RETURN_IF_ERROR(top.read_double("rope_theta", &config->rope_theta));
  const char* key = top.has("rope_parameters") ? "rope_parameters" : "rope_scaling";
  if (!top.has(key)) return ok_status();
  const Json& rope = root.at(key);
  if (!rope.is_object()) return top.error(key, "must be an object, got " + rope.dump());
  const FieldReader reader(rope, source, std::string(key) + ".");
  KILN_RETURN_IF_ERROR(reader.read_double("rope_theta", &config->rope_theta));

  std::string type_key = reader.has("rope_type") ? "rope_type" : "type";
  std::string type_name = "default";
  KILN_RETURN_IF_ERROR(reader.read_string(type_key.c_str(), &type_name));
  RopeScaling& scaling = config->rope_scaling;
  if (type_name == "default") {
    scaling.type = RopeType::kDefault;
  } else if (type_name == "linear") {
    scaling.type = RopeType::kLinear;
  } else if (type_name == "llama3") {
    scaling.type = RopeType::kLlama3;
  } else if (type_name == "yarn") {
    scaling.type = RopeType::kYarn;
  } else {
    return reader.error(type_key.c_str(),
                        "'" + type_name + "' is not supported (supported: default, linear, llama3, yarn)");
  }
  if (scaling.type == RopeType::kDefault) return ok_status();

  if (!reader.has("factor")) return reader.error("factor", "is missing for rope type " + type_name);
  KILN_RETURN_IF_ERROR(reader.read_double("factor", &scaling.factor));
  if (scaling.factor < 1.0) return reader.error("factor", "must be >= 1");
  if (scaling.type == RopeType::kLlama3) {
    for (const char* required : {"low_freq_factor", "high_freq_factor",
                                 "original_max_position_embeddings"}) {
      if (!reader.has(required)) return reader.error(required, "is missing for rope type llama3");
    }
    KILN_RETURN_IF_ERROR(reader.read_double("low_freq_factor", &scaling.low_freq_factor));
    KILN_RETURN_IF_ERROR(reader.read_double("high_freq_factor", &scaling.high_freq_factor));
    if (scaling.high_freq_factor <= scaling.low_freq_factor) {
      return reader.error("high_freq_factor", "must be greater than low_freq_factor");
    }
  }
  if (scaling.type == RopeType::kYarn) {
    KILN_RETURN_IF_ERROR(reader.read_double("beta_fast", &scaling.beta_fast));
    KILN_RETURN_IF_ERROR(reader.read_double("beta_slow", &scaling.beta_slow));
    if (reader.has("attention_factor")) {
      double attention_factor = 0;
      KILN_RETURN_IF_ERROR(reader.read_double("attention_factor", &attention_factor));
      scaling.attention_factor = attention_factor;
    }
    // As transformers: without it, yarn scales from max_position_embeddings.
    scaling.original_max_position_embeddings = config->max_position_embeddings;
  }
  KILN_RETURN_IF_ERROR(reader.read_int("original_max_position_embeddings",
                                       &scaling.original_max_position_embeddings, false));
  if (scaling.original_max_position_embeddings <= 0 &&
      scaling.type != RopeType::kLinear) {
    return reader.error("original_max_position_embeddings", "must be positive");
  }
  return ok_status();
}

Status parse_token_ids(const Json& root, const std::string& source, ModelConfig* config) {
  const FieldReader reader(root, source, "");
  if (reader.has("bos_token_id")) {
    int bos = 0;
    KILN_RETURN_IF_ERROR(reader.read_int("bos_token_id", &bos, true));
    config->bos_token_id = bos;
  }
  if (!reader.has("eos_token_id")) return ok_status();
  const Json& eos = root.at("eos_token_id");
  const auto add = [&](const Json& id) -> Status {
    if (!id.is_number_integer()) {
      return reader.error("eos_token_id", "must be an integer or a list of integers, got " + eos.dump());
    }
    // Read wide and range-checked: get<int>() truncated 2^40 into a valid-looking id.
    const bool too_large = id.is_number_unsigned() && id.get<uint64_t>() > static_cast<uint64_t>(INT32_MAX);
    const int64_t value = too_large ? -1 : id.get<int64_t>();
    if (too_large || value < 0 || value > INT32_MAX) {
      return reader.error("eos_token_id", id.dump() + " is outside the vocabulary (vocab_size " +
                                              std::to_string(config->vocab_size) + ")");
    }
    config->eos_token_ids.push_back(static_cast<int>(value));
    return ok_status();
  };
  if (eos.is_array()) {
    for (const Json& id : eos) KILN_RETURN_IF_ERROR(add(id));
  } else {
    KILN_RETURN_IF_ERROR(add(eos));
  }
  return ok_status();
}

Status validate(const FieldReader& reader, const ModelConfig& config) {
  const std::pair<const char*, int> positive[] = {
      {"hidden_size", config.hidden_size},
      {"intermediate_size", config.intermediate_size},
      {"num_hidden_layers", config.num_hidden_layers},
      {"num_attention_heads", config.num_attention_heads},
      {"num_key_value_heads", config.num_key_value_heads},
      {"head_dim", config.head_dim},
      {"vocab_size", config.vocab_size},
      {"max_position_embeddings", config.max_position_embeddings},
  };
  for (const auto& [name, value] : positive) {
    if (value <= 0) return reader.error(name, "must be positive, got " + std::to_string(value));
  }
  // Far above any real model and low enough that products of them (q_size, KV bytes per token,
  // RoPE tables) stay within 64-bit sizes and never make a multi-minute allocation: a config.json
  // of num_hidden_layers 1e6 ran into bad_alloc after minutes.
  const std::pair<const char*, int> bounded[] = {
      {"hidden_size", config.hidden_size},           {"intermediate_size", config.intermediate_size},
      {"num_attention_heads", config.num_attention_heads}, {"num_key_value_heads", config.num_key_value_heads},
      {"head_dim", config.head_dim},
  };
  for (const auto& [name, value] : bounded) {
    if (value > kMaxModelDimension) {
      return reader.error(name, std::to_string(value) + " is larger than kiln supports (" +
                                    std::to_string(kMaxModelDimension) + ")");
    }
  }
  if (config.num_hidden_layers > kMaxNumLayers) {
    return reader.error("num_hidden_layers", std::to_string(config.num_hidden_layers) + " is larger than kiln supports (" +
                                                 std::to_string(kMaxNumLayers) + ")");
  }
  if (config.vocab_size > kMaxVocabSize) {
    return reader.error("vocab_size", std::to_string(config.vocab_size) + " is larger than kiln supports (" +
                                          std::to_string(kMaxVocabSize) + ")");
  }
  if (static_cast<int64_t>(config.num_attention_heads) * config.head_dim > kMaxModelDimension) {
    return reader.error("num_attention_heads", "x head_dim (" + std::to_string(config.num_attention_heads) + " x " +
                                                   std::to_string(config.head_dim) + ") is larger than kiln supports (" +
                                                   std::to_string(kMaxModelDimension) + ")");
  }
  if (config.max_position_embeddings > kMaxPositionEmbeddings) {
    return reader.error("max_position_embeddings", std::to_string(config.max_position_embeddings) +
                                                       " is larger than kiln supports (" +
                                                       std::to_string(kMaxPositionEmbeddings) + ")");
  }
  if (config.num_attention_heads % config.num_key_value_heads != 0) {
    return reader.error("num_key_value_heads",
                        "(" + std::to_string(config.num_key_value_heads) +
                            ") must divide num_attention_heads (" +
                            std::to_string(config.num_attention_heads) + ")");
  }
  if (config.head_dim % 2 != 0) {
    return reader.error("head_dim", "must be even for rotary embeddings, got " +
                                        std::to_string(config.head_dim));
  }
  if (!(config.rms_norm_eps > 0)) return reader.error("rms_norm_eps", "must be positive");
  if (!(config.rope_theta > 0)) return reader.error("rope_theta", "must be positive");
  for (int id : config.eos_token_ids) {
    if (id < 0 || id >= config.vocab_size) {
      return reader.error("eos_token_id", std::to_string(id) + " is outside the vocabulary (vocab_size " +
                                              std::to_string(config.vocab_size) + ")");
    }
  }
  if (config.bos_token_id && (*config.bos_token_id < 0 || *config.bos_token_id >= config.vocab_size)) {
    return reader.error("bos_token_id", std::to_string(*config.bos_token_id) +
                                            " is outside the vocabulary (vocab_size " +
                                            std::to_string(config.vocab_size) + ")");
  }
  return ok_status();
}

}  // namespace

std::string supported_architectures() {
  std::string names;
  for (const ArchitectureInfo& info : kArchitectures) {
    if (!names.empty()) names += ", ";
    names += info.name;
  }
  return names;
}

Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& source) {
  if (const auto at = find_json_nesting_over(json_text, kMaxFileJsonDepth)) {
    return Status::error(source + ": nests JSON deeper than " + std::to_string(kMaxFileJsonDepth) +
                         " levels (at byte " + std::to_string(*at) + ")");
  }
  Json root;
  try {
    root = Json::parse(json_text);
  } catch (const Json::exception& e) {
    return Status::error(source + ": not valid JSON: " + e.what());
  }
  if (!root.is_object()) return Status::error(source + ": expected a JSON object");

  try {
    ModelConfig config;
    KILN_RETURN_IF_ERROR(parse_architecture(root, source, &config));
    const FieldReader reader(root, source, "");
    KILN_RETURN_IF_ERROR(reader.read_int("hidden_size", &config.hidden_size, true));
    KILN_RETURN_IF_ERROR(reader.read_int("intermediate_size", &config.intermediate_size, true));
    KILN_RETURN_IF_ERROR(reader.read_int("num_hidden_layers", &config.num_hidden_layers, true));
    KILN_RETURN_IF_ERROR(reader.read_int("num_attention_heads", &config.num_attention_heads, true));
    KILN_RETURN_IF_ERROR(reader.read_int("vocab_size", &config.vocab_size, true));
    config.num_key_value_heads = config.num_attention_heads;  // MHA when absent, as HF
    KILN_RETURN_IF_ERROR(reader.read_int("num_key_value_heads", &config.num_key_value_heads, false));
    if (reader.has("head_dim")) {
      KILN_RETURN_IF_ERROR(reader.read_int("head_dim", &config.head_dim, true));
    } else {
      if (config.num_attention_heads <= 0) {
        return reader.error("num_attention_heads", "must be positive, got " +
                                                       std::to_string(config.num_attention_heads));
      }
      if (config.hidden_size % config.num_attention_heads != 0) {
        return reader.error("num_attention_heads",
                            "(" + std::to_string(config.num_attention_heads) +
                                ") must divide hidden_size (" + std::to_string(config.hidden_size) +
                                ") when head_dim is not given");
      }
      config.head_dim = config.hidden_size / config.num_attention_heads;
    }
    config.max_position_embeddings = 2048;  // LlamaConfig's default
    KILN_RETURN_IF_ERROR(
        reader.read_int("max_position_embeddings", &config.max_position_embeddings, false));
    KILN_RETURN_IF_ERROR(reader.read_double("rms_norm_eps", &config.rms_norm_eps));
    KILN_RETURN_IF_ERROR(reader.read_bool("tie_word_embeddings", &config.tie_word_embeddings));

    if (config.architecture == Architecture::kQwen2) {
      // transformers' Qwen2Attention builds q/k/v with bias=True whatever the config says.
      config.attention_bias = true;
      KILN_RETURN_IF_ERROR(reader.read_bool("use_sliding_window", &config.use_sliding_window));
      KILN_RETURN_IF_ERROR(reader.read_int("sliding_window", &config.sliding_window, false));
      if (config.use_sliding_window) {
        return reader.error("use_sliding_window", "is true; sliding-window attention is not supported");
      }
    } else {
      // Llama's attention_bias also puts a bias on o_proj, which kiln does not carry.
      bool attention_bias = false;
      KILN_RETURN_IF_ERROR(reader.read_bool("attention_bias", &attention_bias));
      if (attention_bias) {
        return reader.error("attention_bias", "is true; LlamaForCausalLM with attention biases is not supported");
      }
      bool mlp_bias = false;
      KILN_RETURN_IF_ERROR(reader.read_bool("mlp_bias", &mlp_bias));
      if (mlp_bias) return reader.error("mlp_bias", "is true; MLP biases are not supported");
    }
    std::string hidden_act = "silu";
    KILN_RETURN_IF_ERROR(reader.read_string("hidden_act", &hidden_act));
    if (hidden_act != "silu") {
      return reader.error("hidden_act", "'" + hidden_act + "' is not supported (supported: silu)");
    }

    KILN_RETURN_IF_ERROR(parse_rope(root, source, &config));

    // transformers 5 writes "dtype"; older versions "torch_dtype".
    const char* dtype_key = reader.has("dtype") ? "dtype" : "torch_dtype";
    if (reader.has(dtype_key)) {
      std::string dtype_name;
      KILN_RETURN_IF_ERROR(reader.read_string(dtype_key, &dtype_name));
      const std::optional<DType> dtype = parse_dtype(dtype_name);
      if (!dtype || *dtype == DType::kF8E4M3) {
        return reader.error(dtype_key, "'" + dtype_name +
                                           "' is not supported (supported: bfloat16, float16, float32)");
      }
      config.dtype = *dtype;
    }
    KILN_RETURN_IF_ERROR(parse_token_ids(root, source, &config));
    KILN_ASSIGN_OR_RETURN(config.quantization, parse_quantization_config(root, source));
    KILN_RETURN_IF_ERROR(validate(reader, config));
    return config;
  } catch (const Json::exception& e) {
    return Status::error(source + ": " + e.what());
  }
}

Result<ModelConfig> load_model_config(const std::filesystem::path& config_json) {
  KILN_ASSIGN_OR_RETURN(const std::string text, read_regular_file(config_json));
  return parse_model_config(text, config_json.string());
}

}  // namespace kiln
