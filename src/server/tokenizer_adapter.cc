#include "server/tokenizer_adapter.h"

namespace kiln::server {

Result<std::vector<int32_t>> TokenizerCodec::encode(std::string_view text, bool add_special_tokens) const {
  return tokenizer_->encode_checked(text, add_special_tokens);
}

std::string TokenizerCodec::decode(const std::vector<int32_t>& token_ids, bool skip_special_tokens) const {
  return tokenizer_->decode(token_ids, skip_special_tokens);
}

std::string TokenizerCodec::token_text(int32_t token_id) const {
  // vLLM decodes each logprob token alone; partial UTF-8 becomes U+FFFD, as decode does.
  const int32_t ids[1] = {token_id};
  return tokenizer_->decode(ids, false);
}

Result<std::string> ChatTemplateRenderer::render(const api::ChatRenderInputs& inputs) const {
  tokenizer::ChatTemplateInputs template_inputs;
  template_inputs.messages = inputs.messages;
  template_inputs.add_generation_prompt = inputs.add_generation_prompt;
  template_inputs.continue_final_message = inputs.continue_final_message;
  template_inputs.tools = inputs.tools;
  template_inputs.extra_kwargs = inputs.chat_template_kwargs;
  template_inputs.bos_token = bos_token_;
  template_inputs.eos_token = eos_token_;
  if (inputs.chat_template) {
    // A request's own template (--trust-request-chat-template): compiled for this request only.
    auto own = tokenizer::ChatTemplate::compile(*inputs.chat_template);
    if (!own.ok()) return own.status().with_context("chat_template");
    return own->render(template_inputs);
  }
  return template_.render(template_inputs);
}

}  // namespace kiln::server
