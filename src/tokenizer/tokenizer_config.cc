#include "tokenizer/tokenizer_config.h"

#include <nlohmann/json.hpp>

#include "tokenizer/config_json.h"
#include "tokenizer/read_file.h"

namespace kiln::tokenizer {
namespace {

using json = nlohmann::json;

// A token field: a string, an AddedToken object with "content", or null.
Status read_token(const json& root, const char* key, const std::string& name,
                  std::optional<std::string>* out) {
  const json* field = optional_field(root, key);
  if (field == nullptr) return ok_status();
  if (field->is_string()) {
    *out = field->get<std::string>();
    return ok_status();
  }
  if (field->is_object()) {
    const auto content = field->find("content");
    if (content != field->end() && content->is_string()) {
      *out = content->get<std::string>();
      return ok_status();
    }
  }
  return field_error(name, key, "expected a string or {\"__type\": \"AddedToken\", \"content\": ...}");
}

Status read_optional_bool(const json& root, const char* key, const std::string& name,
                          std::optional<bool>* out) {
  const json* field = optional_field(root, key);
  if (field == nullptr) return ok_status();
  if (!field->is_boolean()) return field_error(name, key, "expected true or false");
  *out = field->get<bool>();
  return ok_status();
}

}  // namespace

const std::string* TokenizerConfig::chat_template(std::string_view name) const {
  const std::string_view wanted = name.empty() ? std::string_view("default") : name;
  for (const NamedChatTemplate& named : chat_templates) {
    if (named.name == wanted) return &named.template_text;
  }
  return nullptr;
}

Result<TokenizerConfig> parse_tokenizer_config(std::string_view json_text, const std::string& name) {
  KILN_ASSIGN_OR_RETURN(const json root, parse_config_object(json_text, name));
  TokenizerConfig config;
  KILN_RETURN_IF_ERROR(read_token(root, "bos_token", name, &config.bos_token));
  KILN_RETURN_IF_ERROR(read_token(root, "eos_token", name, &config.eos_token));
  KILN_RETURN_IF_ERROR(read_token(root, "pad_token", name, &config.pad_token));
  KILN_RETURN_IF_ERROR(read_token(root, "unk_token", name, &config.unk_token));
  KILN_RETURN_IF_ERROR(read_optional_bool(root, "add_bos_token", name, &config.add_bos_token));
  KILN_RETURN_IF_ERROR(read_optional_bool(root, "add_eos_token", name, &config.add_eos_token));
  if (const json* field = optional_field(root, "model_max_length")) {
    if (field->is_number_integer()) {
      config.model_max_length = field->get<int64_t>();
    } else if (!field->is_number()) {
      // transformers writes 1e30 (a float) for "no limit": that is no limit, not an error.
      return field_error(name, "model_max_length", "expected a number");
    }
  }
  if (const json* field = optional_field(root, "tokenizer_class"); field != nullptr && field->is_string()) {
    config.tokenizer_class = field->get<std::string>();
  }
  if (const json* field = optional_field(root, "chat_template")) {
    if (field->is_string()) {
      config.chat_templates.push_back({"default", field->get<std::string>()});
    } else if (field->is_array()) {
      for (size_t i = 0; i < field->size(); ++i) {
        const json& entry = (*field)[i];
        if (!entry.is_object() || !entry.contains("name") || !entry["name"].is_string() ||
            !entry.contains("template") || !entry["template"].is_string()) {
          return field_error(name, "chat_template[" + std::to_string(i) + "]",
                             "expected {\"name\": \"...\", \"template\": \"...\"}");
        }
        config.chat_templates.push_back(
            {entry["name"].get<std::string>(), entry["template"].get<std::string>()});
      }
    } else {
      return field_error(name, "chat_template",
                         "expected a string or a list of {\"name\", \"template\"}");
    }
  }
  return config;
}

Result<TokenizerConfig> load_tokenizer_config(const std::filesystem::path& path) {
  KILN_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  KILN_ASSIGN_OR_RETURN(TokenizerConfig config, parse_tokenizer_config(text, path.string()));
  // transformers >= 4.43 may save the template as chat_template.jinja next to the config.
  if (config.chat_templates.empty()) {
    const auto jinja = path.parent_path() / "chat_template.jinja";
    if (std::filesystem::exists(jinja)) {
      KILN_ASSIGN_OR_RETURN(std::string template_text, read_file(jinja));
      config.chat_templates.push_back({"default", std::move(template_text)});
    }
  }
  return config;
}

}  // namespace kiln::tokenizer
