// Renders a Hugging Face chat template the way transformers' apply_chat_template does: jinja2's
// ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, loop controls, the
// {% generation %} tag, raise_exception and strftime_now globals, and transformers' tojson
// (ensure_ascii=False). Compile once; render is const and safe to call from many threads.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "base/status.h"
#include "jinja/template.h"

namespace kiln::tokenizer {

// JSON fields are ordered_json because key order reaches the prompt (tojson of tool schemas and
// arguments prints keys in the order the client sent them, as Python dicts do).
struct ChatTemplateInputs {
  nlohmann::ordered_json messages =
      nlohmann::ordered_json::array();  // [{"role": ..., "content": ...}, ...]
  bool add_generation_prompt = false;
  // Leave the final (assistant) message open so generation continues it.
  bool continue_final_message = false;
  nlohmann::ordered_json tools;  // null when none, else a list of JSON schemas
  nlohmann::ordered_json
      extra_kwargs;  // chat_template_kwargs: null or an object merged into the context
  std::string bos_token;
  std::string eos_token;
};

class ChatTemplate {
 public:
  // Errors: "chat template: template syntax error: line L, column C: ...".
  static Result<ChatTemplate> compile(const std::string& source);

  // The prompt text. Errors: bad inputs (naming the field), the template's raise_exception
  // message, or a template error with its line.
  Result<std::string> render(const ChatTemplateInputs& inputs) const;

 private:
  explicit ChatTemplate(jinja::Template tmpl) : template_(std::move(tmpl)) {}
  jinja::Template template_;
};

}  // namespace kiln::tokenizer
