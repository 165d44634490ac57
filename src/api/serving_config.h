// What the response builders and request preparation need to know about the served model.
#pragma once

#include <string>

#include "api/openai_request.h"
#include "api/reasoning_parser.h"

namespace kiln::api {

struct ServingConfig {
  std::string served_model_name;
  std::string model_root;  // the model's path or repo id, shown as "root" in /v1/models
  int max_model_len = 0;
  ReasoningParserKind reasoning_parser = ReasoningParserKind::kNone;
  // vLLM's --enable-prompt-tokens-details: usage.prompt_tokens_details is null without it.
  bool enable_prompt_tokens_details = false;
  ParseLimits limits;
};

}  // namespace kiln::api
