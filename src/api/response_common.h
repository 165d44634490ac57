// Pieces shared by the chat and completions responses: the response identity, usage, and the
// per-choice state collected from the engine's outputs.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "api/api_error.h"
#include "api/prompt_codec.h"
#include "api/reasoning_parser.h"
#include "engine/request_output.h"

namespace kiln::api {

struct ResponseContext {
  std::string id;       // "chatcmpl-<uuid4>" or "cmpl-<uuid4>"
  int64_t created = 0;  // unix seconds
  std::string model;    // the served model name
  const TextCodec* codec = nullptr;  // token texts for logprobs
  ReasoningParserKind reasoning_parser = ReasoningParserKind::kNone;
  bool enable_prompt_tokens_details = false;
};

// {"prompt_tokens", "total_tokens", "completion_tokens", "prompt_tokens_details"} in vLLM's order.
Json usage_json(int prompt_tokens, int completion_tokens, int cached_tokens, bool with_details);

// null, the stop string, or the stop token id.
Json stop_reason_json(const std::variant<std::monostate, std::string, int32_t>& stop_reason);

// null until the choice finished, then "stop" / "length" / "abort" / "error".
Json finish_reason_json(FinishReason reason);

}  // namespace kiln::api
