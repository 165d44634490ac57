// Test doubles for the tokenizer and chat template: one token per byte (id = byte value), and a
// template that writes "<role>content" per message.
#pragma once

#include <string>
#include <vector>

#include "api/prompt_codec.h"

namespace kiln::api::testing {

class ByteCodec : public TextCodec {
 public:
  Result<std::vector<int32_t>> encode(std::string_view text, bool add_special_tokens) const override {
    if (text.find("\x01") != std::string_view::npos) return Status::error("cannot encode \\x01");
    std::vector<int32_t> ids;
    if (add_special_tokens) ids.push_back(256);
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const override {
    std::string out;
    for (int32_t id : ids) {
      if (id < 256) out += static_cast<char>(id);
      else if (!skip_special_tokens) out += "<s>";
    }
    return out;
  }
  std::string token_text(int32_t id) const override {
    return id < 256 ? std::string(1, static_cast<char>(id)) : std::string("<s>");
  }
  int64_t vocab_size() const override { return 300; }
};

class TagRenderer : public PromptRenderer {
 public:
  Result<std::string> render(const ChatRenderInputs& inputs) const override {
    std::string out;
    for (const auto& message : inputs.messages) {
      if (message["role"] == "fail") return Status::error("template error: bad role");
      out += "<" + message["role"].get<std::string>() + ">";
      if (message.contains("content") && message["content"].is_string()) out += message["content"].get<std::string>();
    }
    if (inputs.add_generation_prompt) out += "<assistant>";
    return out;
  }
};

}  // namespace kiln::api::testing
