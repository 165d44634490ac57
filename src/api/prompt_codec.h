// What the api layer needs from the tokenizer and the chat template, as small interfaces so that
// serving logic is tested with fakes; the real Tokenizer and ChatTemplate plug in through an
// adapter (server/tokenizer_adapter.h once the tokenizer lands).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kiln::api {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  virtual Result<std::vector<int32_t>> encode(std::string_view text, bool add_special_tokens) const = 0;
  virtual std::string decode(const std::vector<int32_t>& token_ids, bool skip_special_tokens) const = 0;
  // One token's text as logprobs show it (decoded alone, as vLLM does).
  virtual std::string token_text(int32_t token_id) const = 0;
  virtual int64_t vocab_size() const = 0;
};

struct ChatRenderInputs {
  const nlohmann::json& messages;
  bool add_generation_prompt = true;
  bool continue_final_message = false;
  const nlohmann::json& tools;                 // null when the request had none
  const nlohmann::json& chat_template_kwargs;  // object
  // The request's own template text (allowed by --trust-request-chat-template); null: the
  // server's template.
  const std::string* chat_template = nullptr;
};

class PromptRenderer {
 public:
  virtual ~PromptRenderer() = default;
  // The prompt text; errors (a template exception, a bad role order) become 400s.
  virtual Result<std::string> render(const ChatRenderInputs& inputs) const = 0;
};

}  // namespace kiln::api
