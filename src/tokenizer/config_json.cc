#include "tokenizer/config_json.h"

namespace kiln::tokenizer {

Result<nlohmann::json> parse_config_object(std::string_view json_text, const std::string& name) {
  nlohmann::json root = nlohmann::json::parse(json_text.begin(), json_text.end(), nullptr, false);
  if (root.is_discarded()) return Status::error(name + ": not valid JSON");
  if (!root.is_object()) return Status::error(name + ": expected a JSON object");
  return root;
}

const nlohmann::json* optional_field(const nlohmann::json& object, const char* key) {
  const auto it = object.find(key);
  return it == object.end() || it->is_null() ? nullptr : &*it;
}

Status field_error(const std::string& name, const std::string& field, const std::string& message) {
  return Status::error(name + ": " + field + ": " + message);
}

}  // namespace kiln::tokenizer
