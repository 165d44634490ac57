// What the chat and completions responses share: the response identity and envelope, usage, a
// choice's state accumulated from the engine's outputs, and the streaming frame (chunks, the
// usage chunk, [DONE]). chat_response.h and completion_response.h add only their own fields.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/api_error.h"
#include "api/openai_request.h"
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

// {"id", "object", "created", "model"}: how every response body and stream chunk begins.
Json response_envelope(const ResponseContext& context, std::string_view object);

// One choice of a whole (not streamed) response, as the engine's outputs arrive.
struct AccumulatedChoice {
  std::string text;
  std::vector<int32_t> token_ids;
  std::vector<TokenLogprob> logprobs;
  FinishReason finish_reason = FinishReason::kNone;
  std::variant<std::monostate, std::string, int32_t> stop_reason;
  int num_tokens = 0;

  void add(const CompletionOutput& output);
  // Sets entry's "finish_reason" and "stop_reason".
  void put_finish(Json* entry) const;
};

// Tokens generated over all choices (of any choice type with num_tokens).
template <typename Choice>
int total_num_tokens(const std::vector<Choice>& choices) {
  int total = 0;
  for (const Choice& choice : choices) total += choice.num_tokens;
  return total;
}

struct UsageCounts {
  int prompt_tokens = 0;
  int completion_tokens = 0;
  int cached_tokens = 0;
};

// The framing of a streamed response, the same for both endpoints: every chunk is the envelope
// and its choices (and the usage so far with continuous_usage_stats); the stream ends with the
// usage chunk (with include_usage) and [DONE].
class ChunkStream {
 public:
  ChunkStream(ResponseContext context, std::string object, StreamOptions options)
      : context_(std::move(context)), object_(std::move(object)), options_(options) {}
  // One SSE event holding `choices`.
  std::string event(Json choices, const UsageCounts& usage) const;
  std::string finish(const UsageCounts& usage) const;

 private:
  ResponseContext context_;
  std::string object_;  // "chat.completion.chunk" or "text_completion"
  StreamOptions options_;
};

}  // namespace kiln::api
