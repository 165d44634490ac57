#include "api/response_common.h"

#include <algorithm>

#include "api/sse.h"

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

Json response_envelope(const ResponseContext& context, std::string_view object) {
  Json envelope;
  envelope["id"] = context.id;
  envelope["object"] = object;
  envelope["created"] = context.created;
  envelope["model"] = context.model;
  return envelope;
}

void AccumulatedChoice::add(const CompletionOutput& output) {
  text += output.text_delta;
  token_ids.insert(token_ids.end(), output.new_token_ids.begin(), output.new_token_ids.end());
  logprobs.insert(logprobs.end(), output.logprobs.begin(), output.logprobs.end());
  num_tokens = std::max(num_tokens, output.num_output_tokens);
  if (output.finish_reason != FinishReason::kNone) {
    finish_reason = output.finish_reason;
    stop_reason = output.stop_reason;
  }
}

void AccumulatedChoice::put_finish(Json* entry) const {
  (*entry)["finish_reason"] = finish_reason_json(finish_reason);
  (*entry)["stop_reason"] = stop_reason_json(stop_reason);
}

std::string ChunkStream::event(Json choices, const UsageCounts& usage) const {
  Json chunk = response_envelope(context_, object_);
  chunk["choices"] = std::move(choices);
  if (options_.include_usage && options_.continuous_usage_stats) {
    chunk["usage"] = usage_json(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                                context_.enable_prompt_tokens_details);
  }
  return sse_event(chunk);
}

std::string ChunkStream::finish(const UsageCounts& usage) const {
  std::string events;
  if (options_.include_usage) {
    Json chunk = response_envelope(context_, object_);
    chunk["choices"] = Json::array();
    chunk["usage"] = usage_json(usage.prompt_tokens, usage.completion_tokens, usage.cached_tokens,
                                context_.enable_prompt_tokens_details);
    events += sse_event(chunk);
  }
  events += kSseDone;
  return events;
}

}  // namespace kiln::api
