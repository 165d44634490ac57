// What the loaders of a model's small JSON configs (tokenizer_config.json,
// generation_config.json) share: the document as one object, its optional fields, and errors
// that name the file and the field.
#pragma once

#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/status.h"

namespace kiln::tokenizer {

// `json_text` as a JSON object; errors read "NAME: not valid JSON" or "NAME: expected a JSON object".
Result<nlohmann::json> parse_config_object(std::string_view json_text, const std::string& name);

// The value of `key`, or null when it is absent or JSON null (Hugging Face writes null for unset
// fields).
const nlohmann::json* optional_field(const nlohmann::json& object, const char* key);

// "NAME: FIELD: message".
Status field_error(const std::string& name, const std::string& field, const std::string& message);

}  // namespace kiln::tokenizer
