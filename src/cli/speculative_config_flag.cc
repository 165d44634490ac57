#include "cli/speculative_config_flag.h"

#include <nlohmann/json.hpp>

#include "base/json_nesting.h"

namespace kiln::cli {
namespace {

Status key_error(const std::string& key, const std::string& message) {
  return Status::error("--speculative-config: " + key + " " + message);
}

Result<int> read_int(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number_integer()) return key_error(key, "must be an integer");
  const int64_t v = value.get<int64_t>();
  if (v < INT32_MIN || v > INT32_MAX) return key_error(key, "is out of range");
  return static_cast<int>(v);
}

Result<double> read_number(const nlohmann::json& value, const std::string& key) {
  if (!value.is_number()) return key_error(key, "must be a number");
  return value.get<double>();
}

Result<std::string> read_string(const nlohmann::json& value, const std::string& key) {
  if (!value.is_string()) return key_error(key, "must be a string");
  return value.get<std::string>();
}

}  // namespace

Result<SpeculativeConfig> parse_speculative_config(const std::string& json_text) {
  if (find_json_nesting_over(json_text, 4)) return Status::error("--speculative-config: the JSON nests too deeply");
  nlohmann::json root;
  try {
    root = nlohmann::json::parse(json_text);
  } catch (const nlohmann::json::parse_error& e) {
    return Status::error(std::string("--speculative-config: not valid JSON (") + e.what() + ")");
  }
  if (!root.is_object()) return Status::error("--speculative-config: expected a JSON object, e.g. '{\"method\": \"ngram\", \"num_speculative_tokens\": 4}'");
  SpeculativeConfig c;
  for (const auto& [key, value] : root.items()) {
    if (value.is_null()) continue;  // vLLM's None: the default
    if (key == "method") {
      KILN_ASSIGN_OR_RETURN(c.method, read_string(value, key));
    } else if (key == "num_speculative_tokens") {
      KILN_ASSIGN_OR_RETURN(c.num_speculative_tokens, read_int(value, key));
    } else if (key == "draft_tree_topk") {
      KILN_ASSIGN_OR_RETURN(c.draft_tree_topk, read_int(value, key));
    } else if (key == "prompt_lookup_min") {
      KILN_ASSIGN_OR_RETURN(c.prompt_lookup_min, read_int(value, key));
    } else if (key == "prompt_lookup_max") {
      KILN_ASSIGN_OR_RETURN(c.prompt_lookup_max, read_int(value, key));
    } else if (key == "model") {
      KILN_ASSIGN_OR_RETURN(c.model, read_string(value, key));
    } else if (key == "disable_by_batch_size") {
      KILN_ASSIGN_OR_RETURN(c.disable_by_batch_size, read_int(value, key));
    } else if (key == "suffix_decoding_max_tree_depth") {
      KILN_ASSIGN_OR_RETURN(c.suffix_decoding_max_tree_depth, read_int(value, key));
    } else if (key == "suffix_decoding_max_cached_requests") {
      KILN_ASSIGN_OR_RETURN(c.suffix_decoding_max_cached_requests, read_int(value, key));
    } else if (key == "suffix_decoding_max_spec_factor") {
      KILN_ASSIGN_OR_RETURN(c.suffix_decoding_max_spec_factor, read_number(value, key));
    } else if (key == "suffix_decoding_min_token_prob") {
      KILN_ASSIGN_OR_RETURN(c.suffix_decoding_min_token_prob, read_number(value, key));
    } else if (key == "oracle_acceptance_rate") {
      KILN_ASSIGN_OR_RETURN(c.oracle_acceptance_rate, read_number(value, key));
    } else if (key == "draft_tensor_parallel_size") {
      KILN_ASSIGN_OR_RETURN(const int tp, read_int(value, key));
      if (tp != 1) return key_error(key, "must be 1 (the draft runs beside the target on its GPU)");
    } else {
      return key_error(key, "is not a known key (known: method, num_speculative_tokens, draft_tree_topk, model, prompt_lookup_min, "
                            "prompt_lookup_max, disable_by_batch_size, suffix_decoding_max_tree_depth, "
                            "suffix_decoding_max_cached_requests, suffix_decoding_max_spec_factor, "
                            "suffix_decoding_min_token_prob, draft_tensor_parallel_size, oracle_acceptance_rate)");
    }
  }
  if (c.method.empty()) return key_error("method", "is required (ngram, suffix, eagle3)");
  return c;
}

}  // namespace kiln::cli
