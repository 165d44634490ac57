// tokenizer_config.json as transformers writes it: the special tokens, add_bos_token and the
// chat template (rendered by tokenizer/chat_template.h, not here).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace kiln::tokenizer {

struct NamedChatTemplate {
  std::string name;  // "default", "tool_use", ...
  std::string template_text;
};

struct TokenizerConfig {
  // Token contents; a field given as an AddedToken object {"__type": "AddedToken",
  // "content": ...} is read as its content. nullopt when absent or null.
  std::optional<std::string> bos_token;
  std::optional<std::string> eos_token;
  std::optional<std::string> pad_token;
  std::optional<std::string> unk_token;
  std::optional<bool> add_bos_token;
  std::optional<bool> add_eos_token;
  std::optional<int64_t> model_max_length;
  std::optional<std::string> tokenizer_class;
  // All chat templates; a plain string is one named "default".
  std::vector<NamedChatTemplate> chat_templates;

  // The template named `name` ("default" when empty), or nullptr.
  const std::string* chat_template(std::string_view name = {}) const;
};

Result<TokenizerConfig> load_tokenizer_config(const std::filesystem::path& path);
// `name` stands for the file in error messages.
Result<TokenizerConfig> parse_tokenizer_config(std::string_view json_text, const std::string& name);

}  // namespace kiln::tokenizer
