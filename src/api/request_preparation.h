// From a parsed request to what the engine takes: the model check, the prompt's token ids
// (chat template, then tokenizer), and max_tokens resolved against the context length with
// vLLM's error texts.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "api/api_error.h"
#include "api/openai_request.h"
#include "api/prompt_codec.h"
#include "engine/sampling_params.h"

namespace kiln::api {

struct PreparedPrompt {
  std::vector<int32_t> token_ids;
  std::string text;  // the prompt as text (for echo)
};

// An empty `requested` means the served model (vLLM accepts a missing model field).
std::optional<ApiError> check_model_name(const std::string& requested, const std::string& served);

ApiResult<PreparedPrompt> prepare_chat_prompt(const ChatCompletionRequest& request,
                                              const PromptRenderer& renderer, const TextCodec& codec);
ApiResult<PreparedPrompt> prepare_completion_prompt(const PromptInput& prompt, bool add_special_tokens,
                                                    const TextCodec& codec);

// Sets sampling.max_tokens: the requested value, else `default_max_tokens`, else what is left of
// the context. Errors with vLLM's texts when the prompt alone, or prompt + max_tokens, does not
// fit in max_model_len.
ApiResult<SamplingParams> resolve_max_tokens(SamplingParams sampling, std::optional<int> max_tokens,
                                             std::optional<int> default_max_tokens,
                                             int num_prompt_tokens, int max_model_len);

}  // namespace kiln::api
