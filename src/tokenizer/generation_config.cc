#include "tokenizer/generation_config.h"

#include <nlohmann/json.hpp>

#include "tokenizer/config_json.h"
#include "tokenizer/read_file.h"

namespace kiln::tokenizer {
namespace {

using json = nlohmann::json;

Status read_id(const json& root, const char* key, const std::string& name,
               std::optional<int32_t>* out) {
  const json* field = optional_field(root, key);
  if (field == nullptr) return ok_status();
  if (!field->is_number_integer() || field->get<int64_t>() < 0 || field->get<int64_t>() > INT32_MAX) {
    return field_error(name, key, "expected a token id");
  }
  *out = field->get<int32_t>();
  return ok_status();
}

Status read_number(const json& root, const char* key, const std::string& name,
                   std::optional<double>* out) {
  const json* field = optional_field(root, key);
  if (field == nullptr) return ok_status();
  if (!field->is_number()) return field_error(name, key, "expected a number");
  *out = field->get<double>();
  return ok_status();
}

Status read_int(const json& root, const char* key, const std::string& name,
                std::optional<int32_t>* out) {
  const json* field = optional_field(root, key);
  if (field == nullptr) return ok_status();
  if (!field->is_number_integer() || field->get<int64_t>() < INT32_MIN ||
      field->get<int64_t>() > INT32_MAX) {
    return field_error(name, key, "expected an integer");
  }
  *out = field->get<int32_t>();
  return ok_status();
}

}  // namespace

Result<GenerationConfig> parse_generation_config(std::string_view json_text,
                                                 const std::string& name) {
  KILN_ASSIGN_OR_RETURN(const json root, parse_config_object(json_text, name));
  GenerationConfig config;
  KILN_RETURN_IF_ERROR(read_id(root, "bos_token_id", name, &config.bos_token_id));
  KILN_RETURN_IF_ERROR(read_id(root, "pad_token_id", name, &config.pad_token_id));
  if (const json* field = optional_field(root, "eos_token_id")) {
    const json list = field->is_array() ? *field : json::array({*field});
    for (const json& id : list) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        return field_error(name, "eos_token_id", "expected a token id or a list of ids");
      }
      config.eos_token_ids.push_back(id.get<int32_t>());
    }
  }
  if (const json* field = optional_field(root, "do_sample")) {
    if (!field->is_boolean()) return field_error(name, "do_sample", "expected true or false");
    config.do_sample = field->get<bool>();
  }
  KILN_RETURN_IF_ERROR(read_number(root, "temperature", name, &config.temperature));
  KILN_RETURN_IF_ERROR(read_number(root, "top_p", name, &config.top_p));
  KILN_RETURN_IF_ERROR(read_int(root, "top_k", name, &config.top_k));
  KILN_RETURN_IF_ERROR(read_number(root, "min_p", name, &config.min_p));
  KILN_RETURN_IF_ERROR(read_number(root, "repetition_penalty", name, &config.repetition_penalty));
  KILN_RETURN_IF_ERROR(read_int(root, "max_new_tokens", name, &config.max_new_tokens));
  return config;
}

Result<GenerationConfig> load_generation_config(const std::filesystem::path& path) {
  KILN_ASSIGN_OR_RETURN(const std::string text, read_file(path));
  return parse_generation_config(text, path.string());
}

}  // namespace kiln::tokenizer
