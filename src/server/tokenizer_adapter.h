// Plugs the real tokenizer and chat template into the api layer's TextCodec and PromptRenderer.
#pragma once

#include <memory>
#include <string>

#include "api/prompt_codec.h"
#include "tokenizer/chat_template.h"
#include "tokenizer/tokenizer.h"

namespace kiln::server {

class TokenizerCodec : public api::TextCodec {
 public:
  explicit TokenizerCodec(std::shared_ptr<const tokenizer::Tokenizer> tokenizer) : tokenizer_(std::move(tokenizer)) {}
  Result<std::vector<int32_t>> encode(std::string_view text, bool add_special_tokens) const override;
  std::string decode(const std::vector<int32_t>& token_ids, bool skip_special_tokens) const override;
  std::string token_text(int32_t token_id) const override;
  int64_t vocab_size() const override { return tokenizer_->vocab_size(); }

 private:
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer_;
};

class ChatTemplateRenderer : public api::PromptRenderer {
 public:
  ChatTemplateRenderer(tokenizer::ChatTemplate chat_template, std::string bos_token, std::string eos_token)
      : template_(std::move(chat_template)), bos_token_(std::move(bos_token)), eos_token_(std::move(eos_token)) {}
  Result<std::string> render(const api::ChatRenderInputs& inputs) const override;

 private:
  tokenizer::ChatTemplate template_;
  std::string bos_token_;
  std::string eos_token_;
};

}  // namespace kiln::server
