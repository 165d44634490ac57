#include "api/request_preparation.h"

namespace kiln::api {

std::optional<ApiError> check_model_name(const std::string& requested, const std::string& served) {
  if (requested.empty() || requested == served) return std::nullopt;
  return model_not_found(requested);
}

ApiResult<PreparedPrompt> prepare_chat_prompt(const ChatCompletionRequest& request,
                                              const PromptRenderer& renderer, const TextCodec& codec) {
  const nlohmann::json null_tools;
  ChatRenderInputs inputs{request.messages, request.add_generation_prompt,
                          request.continue_final_message,
                          request.tools.is_null() ? null_tools : request.tools,
                          request.chat_template_kwargs,
                          request.chat_template ? &*request.chat_template : nullptr};
  Result<std::string> text = renderer.render(inputs);
  if (!text.ok()) return bad_request(text.message(), "messages");
  // The chat template writes the BOS token itself; vLLM's default add_special_tokens=false.
  Result<std::vector<int32_t>> ids = codec.encode(*text, request.add_special_tokens);
  if (!ids.ok()) return bad_request(ids.message(), "messages");
  return PreparedPrompt{std::move(*ids), std::move(*text)};
}

ApiResult<PreparedPrompt> prepare_completion_prompt(const PromptInput& prompt, bool add_special_tokens,
                                                    const TextCodec& codec) {
  if (const auto* ids = std::get_if<std::vector<int32_t>>(&prompt)) {
    return PreparedPrompt{*ids, codec.decode(*ids, false)};
  }
  const std::string& text = std::get<std::string>(prompt);
  Result<std::vector<int32_t>> ids = codec.encode(text, add_special_tokens);
  if (!ids.ok()) return bad_request(ids.message(), "prompt");
  if (ids->empty()) return bad_request("Prompt cannot be empty", "prompt");
  return PreparedPrompt{std::move(*ids), text};
}

ApiResult<SamplingParams> resolve_max_tokens(SamplingParams sampling, std::optional<int> max_tokens,
                                             std::optional<int> default_max_tokens,
                                             int num_prompt_tokens, int max_model_len) {
  const std::string n = std::to_string(max_model_len);
  const std::string m = std::to_string(num_prompt_tokens);
  if (num_prompt_tokens >= max_model_len) {
    return bad_request("This model's maximum context length is " + n +
                           " tokens. However, your request has " + m +
                           " input tokens. Please reduce the length of the input messages.",
                       "messages");
  }
  const int room = max_model_len - num_prompt_tokens;
  if (max_tokens) {
    if (*max_tokens > room) {
      const std::string x = std::to_string(*max_tokens);
      return bad_request("'max_tokens' or 'max_completion_tokens' is too large: " + x +
                             ". This model's maximum context length is " + n +
                             " tokens and your request has " + m + " input tokens (" + x + " > " +
                             n + " - " + m + ").",
                         "max_tokens");
    }
    sampling.max_tokens = *max_tokens;
  } else {
    sampling.max_tokens = default_max_tokens ? std::min(*default_max_tokens, room) : room;
  }
  if (sampling.min_tokens > sampling.max_tokens) sampling.min_tokens = sampling.max_tokens;
  return sampling;
}

}  // namespace kiln::api
