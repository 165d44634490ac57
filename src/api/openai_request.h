// The two generation requests of the OpenAI API as vLLM accepts them, parsed and validated from
// the request body. Validation errors name the field (ApiError::param) and, where vLLM has a
// fixed text for the check, use vLLM's text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "api/api_error.h"
#include "api/field_reader.h"
#include "api/structured_output_fields.h"
#include "api/tool_fields.h"
#include "engine/sampling_params.h"

namespace kiln::api {

struct ParseLimits {
  int max_logprobs = 20;  // vLLM's --max-logprobs default
  int max_n = 128;
  // prompts x n of one request (kiln's --max-seqs-per-request): one small body must not queue
  // hundreds of thousands of sequences.
  int64_t max_sequences_per_request = 4096;
  // vLLM's --trust-request-chat-template: without it a request's own chat_template is refused
  // (template text is code the server runs).
  bool trust_request_chat_template = false;
  int64_t vocab_size = INT32_MAX;  // token ids in prompts, stop_token_ids and logit_bias
};

struct StreamOptions {
  bool include_usage = false;
  bool continuous_usage_stats = false;
};

struct ChatCompletionRequest {
  std::string model;  // empty: the served model
  JsonIn messages;    // validated list of {role, content}; text-part lists joined into strings
  SamplingParams sampling;
  std::optional<int> max_tokens;  // max_completion_tokens wins over max_tokens; unset: fill context
  bool stream = false;
  StreamOptions stream_options;
  bool logprobs = false;
  int top_logprobs = 0;
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  bool add_special_tokens = false;
  JsonIn tools;                 // null when absent
  ToolRequest tool_request;     // tools, tool_choice, parallel_tool_calls
  // What the output must match (response_format, structured_outputs, guided_*, or the grammar a
  // "required" or named tool_choice forces); nullopt: free text.
  std::optional<OutputConstraint> constraint;
  JsonIn chat_template_kwargs;  // object, empty when absent
  // The request's own template (chat_template, or chat_template_kwargs.chat_template), only
  // with --trust-request-chat-template.
  std::optional<std::string> chat_template;
  std::optional<std::string> user;
};

using PromptInput = std::variant<std::string, std::vector<int32_t>>;

struct CompletionRequest {
  std::string model;
  std::vector<PromptInput> prompts;  // one choice set per prompt
  SamplingParams sampling;
  std::optional<int> max_tokens;  // unset: vLLM's default of 16 for completions
  bool stream = false;
  StreamOptions stream_options;
  bool echo = false;
  std::optional<int> logprobs;
  bool add_special_tokens = true;
  std::optional<std::string> user;
  std::optional<OutputConstraint> constraint;  // structured_outputs, guided_*, response_format
};

// Parses a body that must be a JSON object; errors for malformed JSON, invalid UTF-8, a
// non-object top level.
ApiResult<JsonIn> parse_json_object(std::string_view body);

ApiResult<ChatCompletionRequest> parse_chat_request(std::string_view body, const ParseLimits& limits);
ApiResult<CompletionRequest> parse_completion_request(std::string_view body,
                                                      const ParseLimits& limits);

// The sampling fields shared by both requests (temperature, top_p, ..., stop, logit_bias,
// prompt_logprobs); reads into `sampling`. `max_tokens` is read but checked by the caller.
void read_sampling_fields(FieldReader& reader, const ParseLimits& limits, SamplingParams* sampling);

}  // namespace kiln::api
