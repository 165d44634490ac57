#include "tokenizer/generation_config.h"

#include <nlohmann/json.hpp>

#include "tokenizer/read_file.h"

namespace kiln::tokenizer {
namespace {

using json = nlohmann::json;

Status field_error(const std::string& name, const std::string& field, const std::string& message) {
  return Status::error(name + ": " + field + ": " + message);
}

Status read_id(const json& root, const char* key, const std::string& name,
               std::optional<int32_t>* out) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return ok_status();
  if (!it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > INT32_MAX) {
    return field_error(name, key, "expected a token id");
  }
  *out = it->get<int32_t>();
  return ok_status();
}

Status read_number(const json& root, const char* key, const std::string& name,
                   std::optional<double>* out) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return ok_status();
  if (!it->is_number()) return field_error(name, key, "expected a number");
  *out = it->get<double>();
  return ok_status();
}

Status read_int(const json& root, const char* key, const std::string& name,
                std::optional<int32_t>* out) {
  const auto it = root.find(key);
  if (it == root.end() || it->is_null()) return ok_status();
  if (!it->is_number_integer() || it->get<int64_t>() < INT32_MIN ||
      it->get<int64_t>() > INT32_MAX) {
    return field_error(name, key, "expected an integer");
  }
  *out = it->get<int32_t>();
  return ok_status();
}

}  // namespace

Result<GenerationConfig> parse_generation_config(std::string_view json_text,
                                                 const std::string& name) {
  const json root = json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (root.is_discarded()) return Status::error(name + ": not valid JSON");
  if (!root.is_object()) return Status::error(name + ": expected a JSON object");
  GenerationConfig config;
  KILN_RETURN_IF_ERROR(read_id(root, "bos_token_id", name, &config.bos_token_id));
  KILN_RETURN_IF_ERROR(read_id(root, "pad_token_id", name, &config.pad_token_id));
  if (const auto it = root.find("eos_token_id"); it != root.end() && !it->is_null()) {
    const json list = it->is_array() ? *it : json::array({*it});
    for (const json& id : list) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX) {
        return field_error(name, "eos_token_id", "expected a token id or a list of ids");
      }
      config.eos_token_ids.push_back(id.get<int32_t>());
    }
  }
  if (const auto it = root.find("do_sample"); it != root.end() && !it->is_null()) {
    if (!it->is_boolean()) return field_error(name, "do_sample", "expected true or false");
    config.do_sample = it->get<bool>();
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
