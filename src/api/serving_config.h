// What the response builders and request preparation need to know about the served model.
#pragma once

#include <string>

#include "api/openai_request.h"
#include "api/reasoning_parser.h"
#include "api/tool_call_parser.h"

namespace kiln::api {

struct ServingConfig {
  std::string served_model_name;
  std::string model_root;  // the model's path or repo id, shown as "root" in /v1/models
  int max_model_len = 0;
  ReasoningParserKind reasoning_parser = ReasoningParserKind::kNone;
  // vLLM's --enable-prompt-tokens-details: usage.prompt_tokens_details is null without it.
  bool enable_prompt_tokens_details = false;
  ParseLimits limits;
  // --tool-call-parser and --enable-auto-tool-choice: how "auto" tool calls are read from the
  // model's text (vLLM refuses tool_choice "auto" without both).
  std::optional<ToolCallFormat> tool_call_parser;
  bool enable_auto_tool_choice = false;
  // The token that ends a reasoning model's thinking (</think>): with the deepseek_r1 reasoning
  // parser a chat's output constraint starts after it. -1: none.
  int32_t reasoning_end_token_id = -1;
};

}  // namespace kiln::api
