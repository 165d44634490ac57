#include "engine/spec/speculative_config.h"

#include <string>

namespace kiln {
namespace {

Status field_error(const std::string& field, const std::string& message) {
  return Status::error("--speculative-config: " + field + " " + message);
}

}  // namespace

Status resolve_speculative_config(SpeculativeConfig* c) {
  if (!c->enabled()) return ok_status();
  const std::string& m = c->method;
  if (m != "ngram" && m != "suffix" && m != "eagle3" && m != "oracle") {
    return field_error("method", "'" + m + "' is not supported (expected ngram, suffix, eagle3 or oracle)");
  }
  if (m == "suffix" && c->num_speculative_tokens == 0) c->num_speculative_tokens = c->suffix_decoding_max_tree_depth;
  if (c->num_speculative_tokens < 1 || c->num_speculative_tokens > 64) {
    return field_error("num_speculative_tokens", "must be between 1 and 64, got " + std::to_string(c->num_speculative_tokens));
  }
  if (c->draft_tree_topk < 1 || c->draft_tree_topk > c->num_speculative_tokens) {
    return field_error("draft_tree_topk", "must be between 1 and num_speculative_tokens (" +
                                              std::to_string(c->num_speculative_tokens) + "), got " +
                                              std::to_string(c->draft_tree_topk));
  }
  if (m == "ngram") {
    if (!c->prompt_lookup_min && !c->prompt_lookup_max) c->prompt_lookup_min = c->prompt_lookup_max = 5;
    if (!c->prompt_lookup_min) c->prompt_lookup_min = c->prompt_lookup_max;
    if (!c->prompt_lookup_max) c->prompt_lookup_max = c->prompt_lookup_min;
    if (*c->prompt_lookup_min < 1) {
      return field_error("prompt_lookup_min", "must be at least 1, got " + std::to_string(*c->prompt_lookup_min));
    }
    if (*c->prompt_lookup_max < *c->prompt_lookup_min) {
      return field_error("prompt_lookup_max", "(" + std::to_string(*c->prompt_lookup_max) +
                                                  ") must be at least prompt_lookup_min (" +
                                                  std::to_string(*c->prompt_lookup_min) + ")");
    }
  } else if (c->prompt_lookup_min || c->prompt_lookup_max) {
    return field_error("prompt_lookup_min", "and prompt_lookup_max apply to method ngram only");
  }
  if (m == "eagle3" && c->model.empty()) return field_error("model", "is required for method eagle3 (the draft head)");
  if (m != "eagle3" && !c->model.empty()) return field_error("model", "applies to method eagle3 only");
  if (c->disable_by_batch_size && *c->disable_by_batch_size < 1) {
    return field_error("disable_by_batch_size", "must be at least 1, got " + std::to_string(*c->disable_by_batch_size));
  }
  if (c->suffix_decoding_max_tree_depth < 1) {
    return field_error("suffix_decoding_max_tree_depth", "must be at least 1");
  }
  if (c->suffix_decoding_max_cached_requests < 0) {
    return field_error("suffix_decoding_max_cached_requests", "must not be negative");
  }
  if (!(c->suffix_decoding_max_spec_factor > 0)) {
    return field_error("suffix_decoding_max_spec_factor", "must be positive");
  }
  if (!(c->suffix_decoding_min_token_prob >= 0 && c->suffix_decoding_min_token_prob <= 1)) {
    return field_error("suffix_decoding_min_token_prob", "must be between 0 and 1");
  }
  if (!(c->oracle_acceptance_rate >= 0 && c->oracle_acceptance_rate <= 1)) {
    return field_error("oracle_acceptance_rate", "must be between 0 and 1");
  }
  return ok_status();
}

}  // namespace kiln
