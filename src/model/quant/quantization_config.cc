#include "model/quant/quantization_config.h"

#include <regex>

#include <nlohmann/json.hpp>

namespace kiln {
namespace {

using Json = nlohmann::json;

constexpr int kBlockSize = 128;

// Errors about one object of quantization_config, naming the key path.
class Fields {
 public:
  Fields(const Json& object, std::string source, std::string prefix)
      : object_(object), source_(std::move(source)), prefix_(std::move(prefix)) {}

  bool has(const char* key) const {
    const auto it = object_.find(key);
    return it != object_.end() && !it->is_null();
  }
  const Json& at(const char* key) const { return object_.at(key); }
  Status error(const char* key, const std::string& what) const {
    return Status::error(source_ + ": " + prefix_ + key + " " + what);
  }
  // The object at `key`, with errors naming "key." before its own keys.
  Fields child(const char* key) const { return Fields(object_.at(key), source_, prefix_ + key + "."); }

  // A string field; `fallback` when absent or null.
  Result<std::string> string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!at(key).is_string()) return error(key, "must be a string, got " + at(key).dump());
    return at(key).get<std::string>();
  }
  Result<bool> boolean(const char* key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!at(key).is_boolean()) return error(key, "must be true or false, got " + at(key).dump());
    return at(key).get<bool>();
  }
  Result<int> integer(const char* key, int fallback) const {
    if (!has(key)) return fallback;
    if (!at(key).is_number_integer()) return error(key, "must be an integer, got " + at(key).dump());
    return at(key).get<int>();
  }
  // A list of strings (a single string counts as a list of one).
  Result<std::vector<std::string>> strings(const char* key) const {
    std::vector<std::string> out;
    if (!has(key)) return out;
    const Json& value = at(key);
    if (value.is_string()) return std::vector<std::string>{value.get<std::string>()};
    if (!value.is_array()) return error(key, "must be a list of strings, got " + value.dump());
    for (const Json& item : value) {
      if (!item.is_string()) return error(key, "must be a list of strings, got " + value.dump());
      out.push_back(item.get<std::string>());
    }
    return out;
  }

 private:
  const Json& object_;
  std::string source_;
  std::string prefix_;
};

// Python's re.match: anchored at the start only.
bool regex_matches(const std::string& pattern, const std::string& name) {
  try {
    return std::regex_search(name, std::regex("^(?:" + pattern + ")"));
  } catch (const std::regex_error&) {
    return false;  // rejected when the config was parsed
  }
}

// A compressed-tensors target or ignore entry against a linear module: the class name
// "Linear", the module's name (or a path prefix or suffix of it, as HF's module lists are
// written), or "re:" and a regular expression.
bool entry_matches(const std::string& entry, const std::string& module) {
  if (entry == "Linear") return true;
  if (entry.rfind("re:", 0) == 0) return regex_matches(entry.substr(3), module);
  if (entry == module) return true;
  if (module.size() > entry.size()) {
    if (module.compare(0, entry.size() + 1, entry + ".") == 0) return true;
    if (module.compare(module.size() - entry.size() - 1, entry.size() + 1, "." + entry) == 0) return true;
  }
  return false;
}

Status check_regexes(const Fields& fields, const char* key, const std::vector<std::string>& entries) {
  for (const std::string& entry : entries) {
    if (entry.rfind("re:", 0) != 0) continue;
    try {
      std::regex pattern(entry.substr(3));
    } catch (const std::regex_error& e) {
      return fields.error(key, "entry '" + entry + "' is not a valid regular expression: " + e.what());
    }
  }
  return ok_status();
}

// The FP8 checks every quantization args object of compressed-tensors shares.
Status check_fp8_args(const Fields& args, const char* what) {
  KILN_ASSIGN_OR_RETURN(const std::string type, args.string("type", "int"));
  KILN_ASSIGN_OR_RETURN(const int num_bits, args.integer("num_bits", 8));
  if (type != "float" || num_bits != 8) {
    return args.error("type", "'" + type + "' with num_bits " + std::to_string(num_bits) + " is not supported for " +
                                  what + " (kiln runs FP8: type float, num_bits 8)");
  }
  KILN_ASSIGN_OR_RETURN(const bool symmetric, args.boolean("symmetric", true));
  if (!symmetric) return args.error("symmetric", "is false; kiln runs symmetric FP8 only");
  if (args.has("actorder")) return args.error("actorder", "is set; activation ordering is not supported");
  return ok_status();
}

Status parse_weights_args(const Fields& weights, QuantizationConfig* config) {
  KILN_RETURN_IF_ERROR(check_fp8_args(weights, "weights"));
  KILN_ASSIGN_OR_RETURN(const bool dynamic, weights.boolean("dynamic", false));
  if (dynamic) return weights.error("dynamic", "is true; weight scales must be stored in the checkpoint");
  KILN_ASSIGN_OR_RETURN(const std::string strategy, weights.string("strategy", "tensor"));
  if (strategy == "channel") {
    config->weight_scale = WeightScaleKind::kChannel;
  } else if (strategy == "tensor") {
    config->weight_scale = WeightScaleKind::kTensor;
  } else if (strategy == "block") {
    const char* key = "block_structure";
    if (!weights.has(key) || weights.at(key) != Json::array({kBlockSize, kBlockSize})) {
      return weights.error(key, "must be [128, 128] for block strategy, got " +
                                    (weights.has(key) ? weights.at(key).dump() : std::string("nothing")));
    }
    config->weight_scale = WeightScaleKind::kBlock;
    config->block_rows = config->block_cols = kBlockSize;
  } else {
    return weights.error("strategy", "'" + strategy + "' is not supported for FP8 weights (supported: channel, tensor, "
                                                        "block with block_structure [128, 128])");
  }
  return ok_status();
}

Status parse_activation_args(const Fields& group, QuantizationConfig* config) {
  if (!group.has("input_activations")) {
    config->activation = ActivationScheme::kNone;  // FP8 weight-only
    return ok_status();
  }
  if (!group.at("input_activations").is_object()) {
    return group.error("input_activations", "must be an object or null, got " + group.at("input_activations").dump());
  }
  const Fields args = group.child("input_activations");
  KILN_RETURN_IF_ERROR(check_fp8_args(args, "input_activations"));
  KILN_ASSIGN_OR_RETURN(const bool dynamic, args.boolean("dynamic", false));
  KILN_ASSIGN_OR_RETURN(const std::string strategy, args.string("strategy", "tensor"));
  if (dynamic && strategy == "token") {
    config->activation = ActivationScheme::kDynamicPerToken;
  } else if (!dynamic && strategy == "tensor") {
    config->activation = ActivationScheme::kStaticPerTensor;
  } else if (dynamic && strategy == "group") {
    KILN_ASSIGN_OR_RETURN(const int group_size, args.integer("group_size", 0));
    if (group_size != kBlockSize) {
      return args.error("group_size", "must be 128 for dynamic group activations, got " + std::to_string(group_size));
    }
    config->activation = ActivationScheme::kDynamicPerTokenGroup;
  } else {
    return args.error("strategy", std::string("'") + strategy + "' with dynamic " + (dynamic ? "true" : "false") +
                                      " is not supported (supported: dynamic per token, static per tensor, dynamic "
                                      "group of 128 with block weights)");
  }
  if (config->activation == ActivationScheme::kDynamicPerTokenGroup && config->weight_scale != WeightScaleKind::kBlock) {
    return args.error("strategy", "'group' needs block-quantized weights");
  }
  if (config->weight_scale == WeightScaleKind::kBlock && config->activation != ActivationScheme::kDynamicPerTokenGroup &&
      config->activation != ActivationScheme::kNone) {
    return args.error("strategy", "must be 'group' (group_size 128, dynamic) with block-quantized weights");
  }
  return ok_status();
}

Status parse_compressed_tensors(const Fields& q, QuantizationConfig* config) {
  config->method = QuantMethod::kCompressedTensors;
  KILN_ASSIGN_OR_RETURN(const std::string format, q.string("format", "float-quantized"));
  if (format != "float-quantized" && format != "naive-quantized") {
    return q.error("format", "'" + format + "' is not supported (kiln runs compressed-tensors float-quantized FP8)");
  }
  KILN_ASSIGN_OR_RETURN(const std::string status, q.string("quantization_status", "compressed"));
  if (status != "compressed" && status != "frozen") {
    return q.error("quantization_status", "'" + status + "' is not supported (expected compressed or frozen)");
  }
  if (q.has("kv_cache_scheme")) {
    // Scales calibrated for an FP8 KV cache (llm-compressor): one per K and V tensor per layer.
    if (!q.at("kv_cache_scheme").is_object()) return q.error("kv_cache_scheme", "must be an object");
    const Fields kv = q.child("kv_cache_scheme");
    KILN_ASSIGN_OR_RETURN(const std::string type, kv.string("type", "float"));
    KILN_ASSIGN_OR_RETURN(const int num_bits, kv.integer("num_bits", 8));
    KILN_ASSIGN_OR_RETURN(const std::string strategy, kv.string("strategy", "tensor"));
    KILN_ASSIGN_OR_RETURN(const bool dynamic, kv.boolean("dynamic", false));
    if (type != "float" || num_bits != 8) {
      return kv.error("type", "'" + type + "' with num_bits " + std::to_string(num_bits) +
                                  " is not supported (kiln's KV cache is FP8 E4M3: type float, num_bits 8)");
    }
    if (strategy != "tensor") {
      return kv.error("strategy", "'" + strategy + "' is not supported (kiln takes one KV scale per tensor)");
    }
    if (dynamic) return kv.error("dynamic", "is true; kiln reads static KV scales from the checkpoint");
    config->kv_cache_scales = true;
  }
  if (q.has("sparsity_config") && !(q.at("sparsity_config").is_object() && q.at("sparsity_config").empty())) {
    return q.error("sparsity_config", "is set; sparse checkpoints are not supported");
  }
  if (q.has("transform_config")) return q.error("transform_config", "is set; transformed checkpoints are not supported");
  if (!q.has("config_groups") || !q.at("config_groups").is_object() || q.at("config_groups").empty()) {
    // A checkpoint calibrated only for an FP8 KV cache: the weights are not quantized.
    if (config->kv_cache_scales) {
      config->method = QuantMethod::kNone;
      return ok_status();
    }
    return q.error("config_groups", "is missing or empty");
  }
  const Fields groups = q.child("config_groups");
  bool first = true;
  for (const auto& [name, value] : q.at("config_groups").items()) {
    if (!value.is_object()) return groups.error(name.c_str(), "must be an object, got " + value.dump());
    const Fields group = groups.child(name.c_str());
    QuantizationConfig parsed = *config;
    KILN_ASSIGN_OR_RETURN(const std::string group_format, group.string("format", format));
    if (group_format != "float-quantized" && group_format != "naive-quantized") {
      return group.error("format", "'" + group_format + "' is not supported (kiln runs float-quantized FP8)");
    }
    if (!group.has("weights") || !group.at("weights").is_object()) {
      return group.error("weights", "is missing; kiln needs quantized weights");
    }
    KILN_RETURN_IF_ERROR(parse_weights_args(group.child("weights"), &parsed));
    KILN_RETURN_IF_ERROR(parse_activation_args(group, &parsed));
    if (group.has("output_activations")) {
      return group.error("output_activations", "is set; output quantization is not supported");
    }
    KILN_ASSIGN_OR_RETURN(std::vector<std::string> targets, group.strings("targets"));
    if (targets.empty()) return group.error("targets", "is missing or empty");
    KILN_RETURN_IF_ERROR(check_regexes(group, "targets", targets));
    if (!first && (parsed.weight_scale != config->weight_scale || parsed.activation != config->activation)) {
      return groups.error(name.c_str(), "uses another scheme than the first group; kiln runs one FP8 scheme per model");
    }
    parsed.targets = config->targets;
    parsed.targets.insert(parsed.targets.end(), targets.begin(), targets.end());
    *config = parsed;
    first = false;
  }
  KILN_ASSIGN_OR_RETURN(config->ignore, q.strings("ignore"));
  KILN_RETURN_IF_ERROR(check_regexes(q, "ignore", config->ignore));
  return ok_status();
}

Status parse_fp8(const Fields& q, QuantizationConfig* config) {
  config->method = QuantMethod::kFp8;
  config->targets = {"Linear"};
  KILN_ASSIGN_OR_RETURN(const std::string fmt, q.string("fmt", "e4m3"));
  if (fmt != "e4m3") return q.error("fmt", "'" + fmt + "' is not supported (kiln runs e4m3)");
  KILN_ASSIGN_OR_RETURN(const std::string scheme, q.string("activation_scheme", "dynamic"));
  if (scheme != "dynamic" && scheme != "static") {
    return q.error("activation_scheme", "'" + scheme + "' is not supported (supported: dynamic, static)");
  }
  if (q.has("weight_block_size")) {
    if (q.at("weight_block_size") != Json::array({kBlockSize, kBlockSize})) {
      return q.error("weight_block_size", q.at("weight_block_size").dump() + " is not supported (supported: [128, 128])");
    }
    if (scheme != "dynamic") {
      return q.error("activation_scheme", "must be dynamic with weight_block_size (activations are quantized per "
                                          "token and 128 columns)");
    }
    config->weight_scale = WeightScaleKind::kBlock;
    config->block_rows = config->block_cols = kBlockSize;
    config->activation = ActivationScheme::kDynamicPerTokenGroup;
  } else {
    // vLLM's serialized fp8: one scale per tensor.
    config->weight_scale = WeightScaleKind::kTensor;
    config->activation =
        scheme == "static" ? ActivationScheme::kStaticPerTensor : ActivationScheme::kDynamicPerToken;
  }
  // HF writes modules_to_not_convert, vLLM ignored_layers; the output head is never converted.
  for (const char* key : {"modules_to_not_convert", "ignored_layers"}) {
    KILN_ASSIGN_OR_RETURN(const std::vector<std::string> entries, q.strings(key));
    KILN_RETURN_IF_ERROR(check_regexes(q, key, entries));
    config->ignore.insert(config->ignore.end(), entries.begin(), entries.end());
  }
  config->ignore.push_back("lm_head");
  return ok_status();
}

const char* weight_scale_name(WeightScaleKind kind) {
  switch (kind) {
    case WeightScaleKind::kTensor: return "per-tensor";
    case WeightScaleKind::kChannel: return "per-channel";
    case WeightScaleKind::kBlock: return "128x128-block";
  }
  return "?";
}

const char* activation_name(ActivationScheme scheme) {
  switch (scheme) {
    case ActivationScheme::kNone: return "bf16 activations (weight-only)";
    case ActivationScheme::kDynamicPerToken: return "dynamic per-token activations";
    case ActivationScheme::kStaticPerTensor: return "static per-tensor activations";
    case ActivationScheme::kDynamicPerTokenGroup: return "dynamic per-token, per-128-column activations";
  }
  return "?";
}

}  // namespace

bool QuantizationConfig::is_quantized(const std::string& module_name) const {
  if (!enabled()) return false;
  bool targeted = false;
  for (const std::string& entry : targets) targeted = targeted || entry_matches(entry, module_name);
  if (!targeted) return false;
  for (const std::string& entry : ignore) {
    if (entry != "Linear" && entry_matches(entry, module_name)) return false;
  }
  return true;
}

std::string QuantizationConfig::describe() const {
  const char* method_name = method == QuantMethod::kCompressedTensors ? "compressed-tensors FP8"
                            : method == QuantMethod::kFp8              ? "fp8"
                            : method == QuantMethod::kOnlineFp8        ? "online FP8 (--quantization fp8)"
                                                                       : "none";
  if (!enabled()) return method_name;
  return std::string(method_name) + " (E4M3, " + weight_scale_name(weight_scale) + " weight scales, " +
         activation_name(activation) + ")";
}

const char* QuantizationConfig::weight_scale_suffix() const {
  return method == QuantMethod::kFp8 && weight_scale == WeightScaleKind::kBlock ? "weight_scale_inv" : "weight_scale";
}

std::string supported_quantization_methods() {
  return "compressed-tensors (float-quantized FP8: per-channel or per-tensor weights, dynamic per-token or static "
         "activations, e.g. the *-FP8-dynamic checkpoints), fp8 (weight_block_size [128, 128], as DeepSeek "
         "publishes), and --quantization fp8 on a bf16/f16/f32 checkpoint";
}

Result<QuantizationConfig> parse_quantization_config(const nlohmann::json& root, const std::string& source) {
  QuantizationConfig config;
  const auto it = root.find("quantization_config");
  if (it == root.end() || it->is_null()) return config;
  if (!it->is_object()) {
    return Status::error(source + ": quantization_config must be an object, got " + it->dump());
  }
  const Fields q(*it, source, "quantization_config.");
  KILN_ASSIGN_OR_RETURN(const std::string method, q.string("quant_method", ""));
  if (method.empty()) {
    return q.error("quant_method", "is missing; kiln supports " + supported_quantization_methods());
  }
  if (method == "compressed-tensors") {
    KILN_RETURN_IF_ERROR(parse_compressed_tensors(q, &config));
  } else if (method == "fp8") {
    KILN_RETURN_IF_ERROR(parse_fp8(q, &config));
  } else {
    return q.error("quant_method", "'" + method + "' is not supported; kiln supports " +
                                       supported_quantization_methods());
  }
  return config;
}

QuantizationConfig online_fp8_quantization() {
  QuantizationConfig config;
  config.method = QuantMethod::kOnlineFp8;
  config.weight_scale = WeightScaleKind::kChannel;
  config.activation = ActivationScheme::kDynamicPerToken;
  config.targets = {"Linear"};
  config.ignore = {"lm_head"};
  return config;
}

Result<QuantizationConfig> apply_quantization_flag(const QuantizationConfig& checkpoint, const std::string& flag) {
  if (flag.empty() || flag == "none") {
    if (checkpoint.method == QuantMethod::kOnlineFp8) return QuantizationConfig{};
    return checkpoint;
  }
  if (flag != "fp8") {
    return Status::error("--quantization " + flag + ": not supported (supported: fp8; FP8 checkpoints " +
                         "(compressed-tensors, fp8) are recognised from config.json without the flag)");
  }
  return checkpoint.enabled() ? checkpoint : online_fp8_quantization();
}

}  // namespace kiln
