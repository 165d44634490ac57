#include "tokenizer/chat_template.h"

#include "jinja/python_text.h"

namespace kiln::tokenizer {
namespace {

// transformers passes these itself; a chat_template_kwargs entry may not replace them.
bool is_reserved(const std::string& key) {
  return key == "messages" || key == "tools" || key == "documents" ||
         key == "add_generation_prompt";
}

std::string strip(const std::string& s, bool left, bool right) {
  return jinja::python_strip(s, nullptr, left, right);
}

// transformers: cut the rendered chat right after the final message's text, so that the
// template's end-of-turn markup is gone and generation continues the message.
Result<std::string> cut_after_final_message(const std::string& rendered,
                                            const nlohmann::ordered_json& final_message) {
  const nlohmann::ordered_json* content =
      final_message.contains("content") ? &final_message["content"] : nullptr;
  std::string text;
  if (content && content->is_string()) {
    text = content->get<std::string>();
  } else if (content && content->is_array()) {
    bool found = false;
    for (auto it = content->rbegin(); it != content->rend(); ++it) {
      if (it->is_object() && it->contains("text") && (*it)["text"].is_string()) {
        text = (*it)["text"].get<std::string>();
        found = true;
        break;
      }
    }
    if (!found) {
      return Status::error(
          "continue_final_message is set but the final message has no text to continue");
    }
  } else {
    return Status::error(
        "continue_final_message is set but the final message's content is not text");
  }
  std::string stripped = strip(text, true, true);
  size_t loc = rendered.rfind(stripped);
  if (loc == std::string::npos) {
    return Status::error(
        "continue_final_message is set but the final message does not appear in the chat after "
        "applying the chat template");
  }
  std::string lstripped = strip(text, true, false);
  // The template kept the message's spacing (or it has none): cut after all of it; else after
  // the stripped text.
  if (rendered.substr(loc, lstripped.size()) == text)
    return rendered.substr(0, loc + lstripped.size());
  return rendered.substr(0, loc + stripped.size());
}

}  // namespace

Result<ChatTemplate> ChatTemplate::compile(const std::string& source) {
  auto compiled = jinja::Template::compile(source);
  if (!compiled.ok()) return compiled.status().with_context("chat template");
  return ChatTemplate(std::move(compiled).value());
}

Result<std::string> ChatTemplate::render(const ChatTemplateInputs& inputs) const {
  if (!inputs.messages.is_array()) return Status::error("chat template: messages must be an array");
  if (inputs.continue_final_message) {
    if (inputs.add_generation_prompt) {
      return Status::error(
          "continue_final_message and add_generation_prompt are not compatible: use "
          "continue_final_message to continue the final message, add_generation_prompt to start a "
          "new assistant message");
    }
    if (inputs.messages.empty()) {
      return Status::error("continue_final_message is set but there are no messages");
    }
    const nlohmann::ordered_json& last = inputs.messages.back();
    if (!last.is_object() || !last.contains("role") || last["role"] != "assistant") {
      return Status::error(
          "continue_final_message is set but the final message's role is not 'assistant'");
    }
  }
  if (!inputs.tools.is_null() && !inputs.tools.is_array()) {
    return Status::error("chat template: tools must be a list or null");
  }
  if (!inputs.extra_kwargs.is_null() && !inputs.extra_kwargs.is_object()) {
    return Status::error("chat template: chat_template_kwargs must be an object");
  }

  jinja::ValueDict context;
  context.set("messages", jinja::Value::from_json(inputs.messages));
  context.set("tools", jinja::Value::from_json(inputs.tools));
  context.set("documents", jinja::Value::none());
  context.set("add_generation_prompt", jinja::Value::boolean(inputs.add_generation_prompt));
  context.set("bos_token", jinja::Value::string(inputs.bos_token));
  context.set("eos_token", jinja::Value::string(inputs.eos_token));
  if (inputs.extra_kwargs.is_object()) {
    for (auto it = inputs.extra_kwargs.begin(); it != inputs.extra_kwargs.end(); ++it) {
      if (is_reserved(it.key())) {
        return Status::error("chat_template_kwargs." + it.key() +
                             " is reserved: pass it as its own request field");
      }
      context.set(it.key(), jinja::Value::from_json(it.value()));
    }
  }
  auto rendered = template_.render(context);
  if (!rendered.ok()) return rendered.status();
  if (!inputs.continue_final_message) return rendered;
  return cut_after_final_message(rendered.value(), inputs.messages.back());
}

}  // namespace kiln::tokenizer
