#include "cli/prompt_input.h"

#include <charconv>

#include "tokenizer/chat_template.h"
#include "tokenizer/generation_config.h"
#include "tokenizer/read_file.h"

namespace kiln::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<PromptTokenizer> load_prompt_tokenizer(const std::filesystem::path& model_dir) {
  const std::filesystem::path tokenizer_json = model_dir / "tokenizer.json";
  if (!std::filesystem::is_regular_file(tokenizer_json)) {
    return Status::error(tokenizer_json.string() + ": no such file (the model folder needs a tokenizer.json)");
  }
  PromptTokenizer out;
  KILN_ASSIGN_OR_RETURN(out.tokenizer, tokenizer::Tokenizer::load(tokenizer_json));
  const std::filesystem::path config_json = model_dir / "tokenizer_config.json";
  if (std::filesystem::exists(config_json)) {
    KILN_ASSIGN_OR_RETURN(tokenizer::TokenizerConfig config, tokenizer::load_tokenizer_config(config_json));
    out.config = std::move(config);
  }
  std::optional<tokenizer::GenerationConfig> generation;
  const std::filesystem::path generation_json = model_dir / "generation_config.json";
  if (std::filesystem::exists(generation_json)) {
    KILN_ASSIGN_OR_RETURN(tokenizer::GenerationConfig config, tokenizer::load_generation_config(generation_json));
    generation = std::move(config);
  }
  const tokenizer::TokenizerConfig empty_config;
  KILN_ASSIGN_OR_RETURN(out.special, tokenizer::resolve_special_tokens(*out.tokenizer, out.config ? *out.config : empty_config,
                                                            generation ? &*generation : nullptr));
  return out;
}

Result<std::vector<int32_t>> parse_token_ids(std::string_view text, int vocab_size, const std::string& flag) {
  std::vector<int32_t> ids;
  if (trim(text).empty()) return Status::error(flag + ": no token ids given (expected e.g. 128000,9906)");
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    const std::string_view item = trim(text.substr(start, comma - start));
    int64_t value = 0;
    const auto [end, error] = std::from_chars(item.data(), item.data() + item.size(), value);
    if (item.empty() || error != std::errc() || end != item.data() + item.size()) {
      return Status::error(flag + ": '" + std::string(item) + "' is not a token id (expected comma-separated integers)");
    }
    if (value < 0 || value >= vocab_size) {
      return Status::error(flag + ": token id " + std::string(item) + " is outside the vocabulary [0, " +
                           std::to_string(vocab_size) + ")");
    }
    ids.push_back(static_cast<int32_t>(value));
    start = comma + 1;
  }
  return ids;
}

Result<nlohmann::json> load_messages_file(const std::filesystem::path& path) {
  KILN_ASSIGN_OR_RETURN(std::string text, tokenizer::read_file(path));
  nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return Status::error(path.string() + ": not valid JSON");
  nlohmann::json messages = parsed.is_object() && parsed.contains("messages") ? parsed["messages"] : parsed;
  if (!messages.is_array()) {
    return Status::error(path.string() + ": expected a list of messages or an object with \"messages\"");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const nlohmann::json& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return Status::error(path.string() + ": messages[" + std::to_string(i) + "] needs a string \"role\"");
    }
  }
  return messages;
}

Result<std::string> render_chat(const PromptTokenizer& prompt_tokenizer, const nlohmann::json& messages,
                                bool add_generation_prompt) {
  const std::string* source = prompt_tokenizer.config ? prompt_tokenizer.config->chat_template() : nullptr;
  if (source == nullptr) return Status::error("tokenizer_config.json has no chat_template");
  KILN_ASSIGN_OR_RETURN(tokenizer::ChatTemplate chat_template, tokenizer::ChatTemplate::compile(*source));
  tokenizer::ChatTemplateInputs inputs;
  inputs.messages = messages;
  inputs.add_generation_prompt = add_generation_prompt;
  inputs.bos_token = prompt_tokenizer.config->bos_token.value_or("");
  inputs.eos_token = prompt_tokenizer.config->eos_token.value_or("");
  return chat_template.render(inputs);
}

std::vector<int32_t> encode_prompt(const PromptTokenizer& prompt_tokenizer, std::string_view text,
                                   bool add_special_tokens) {
  std::vector<int32_t> ids = prompt_tokenizer.tokenizer->encode(text, /*add_special_tokens=*/false);
  if (add_special_tokens && prompt_tokenizer.special.add_bos && prompt_tokenizer.special.bos_id) {
    ids.insert(ids.begin(), *prompt_tokenizer.special.bos_id);
  }
  return ids;
}

}  // namespace kiln::cli
