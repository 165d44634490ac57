#include "api/response_common.h"

namespace kiln::api {

Json usage_json(int prompt_tokens, int completion_tokens, int cached_tokens, bool with_details) {
  Json usage;
  usage["prompt_tokens"] = prompt_tokens;
  usage["total_tokens"] = prompt_tokens + completion_tokens;
  usage["completion_tokens"] = completion_tokens;
  if (with_details) {
    Json details;
    details["cached_tokens"] = cached_tokens;
    usage["prompt_tokens_details"] = std::move(details);
  } else {
    usage["prompt_tokens_details"] = nullptr;
  }
  return usage;
}

Json stop_reason_json(const std::variant<std::monostate, std::string, int32_t>& stop_reason) {
  if (const auto* text = std::get_if<std::string>(&stop_reason)) return *text;
  if (const auto* id = std::get_if<int32_t>(&stop_reason)) return *id;
  return nullptr;
}

Json finish_reason_json(FinishReason reason) {
  if (reason == FinishReason::kNone) return nullptr;
  return finish_reason_name(reason);
}

}  // namespace kiln::api
