#include "api/field_reader.h"

#include <cmath>
#include <cstdio>

namespace kiln::api {

std::string json_kind_name(const JsonIn& value) {
  switch (value.type()) {
    case JsonIn::value_t::null: return "null";
    case JsonIn::value_t::boolean: return "a boolean";
    case JsonIn::value_t::string: return "a string";
    case JsonIn::value_t::array: return "a list";
    case JsonIn::value_t::object: return "an object";
    case JsonIn::value_t::number_float: return "a float";
    case JsonIn::value_t::number_integer:
    case JsonIn::value_t::number_unsigned: return "an integer";
    default: return "an unsupported value";
  }
}

std::string format_number(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char text[64];
  if (value == std::floor(value) && std::fabs(value) < 1e15) {
    std::snprintf(text, sizeof text, "%.1f", value);
  } else {
    std::snprintf(text, sizeof text, "%.17g", value);
    // Prefer the shortest text that reads back the same, as Python's repr does.
    for (int precision = 1; precision <= 17; ++precision) {
      char shorter[64];
      std::snprintf(shorter, sizeof shorter, "%.*g", precision, value);
      if (std::strtod(shorter, nullptr) == value) {
        std::snprintf(text, sizeof text, "%s", shorter);
        break;
      }
    }
  }
  return text;
}

bool FieldReader::has(const char* name) const { return get(name) != nullptr; }

const JsonIn* FieldReader::get(const char* name) const {
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) return nullptr;
  return &*it;
}

void FieldReader::fail(ApiError error) {
  if (!error_) error_ = std::move(error);
}

std::optional<bool> FieldReader::boolean(const char* name) {
  const JsonIn* value = get(name);
  if (!value || error_) return std::nullopt;
  if (!value->is_boolean()) {
    fail(std::string("'") + name + "' must be a boolean, got " + json_kind_name(*value), name);
    return std::nullopt;
  }
  return value->get<bool>();
}

std::optional<std::string> FieldReader::string(const char* name) {
  const JsonIn* value = get(name);
  if (!value || error_) return std::nullopt;
  if (!value->is_string()) {
    fail(std::string("'") + name + "' must be a string, got " + json_kind_name(*value), name);
    return std::nullopt;
  }
  return value->get<std::string>();
}

std::optional<double> FieldReader::number(const char* name, double min, double max) {
  const JsonIn* value = get(name);
  if (!value || error_) return std::nullopt;
  if (!value->is_number()) {
    fail(std::string("'") + name + "' must be a number, got " + json_kind_name(*value), name);
    return std::nullopt;
  }
  const double number = value->get<double>();
  if (!std::isfinite(number)) {
    fail(std::string("'") + name + "' must be a finite number", name);
    return std::nullopt;
  }
  if (number < min || number > max) {
    std::string range;
    if (min != -std::numeric_limits<double>::max() && max != std::numeric_limits<double>::max()) {
      range = "in [" + format_number(min) + ", " + format_number(max) + "]";
    } else if (min != -std::numeric_limits<double>::max()) {
      range = ">= " + format_number(min);
    } else {
      range = "<= " + format_number(max);
    }
    fail(std::string("'") + name + "' must be " + range + ", got " + format_number(number), name);
    return std::nullopt;
  }
  return number;
}

std::optional<int64_t> FieldReader::integer(const char* name, int64_t min, int64_t max) {
  const JsonIn* value = get(name);
  if (!value || error_) return std::nullopt;
  int64_t result = 0;
  if (value->is_number_integer()) {
    if (value->is_number_unsigned() &&
        value->get<uint64_t>() > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      fail(std::string("'") + name + "' is out of range", name);
      return std::nullopt;
    }
    result = value->get<int64_t>();
  } else if (value->is_number_float()) {
    const double number = value->get<double>();
    if (!std::isfinite(number) || number != std::floor(number) || std::fabs(number) > 9e18) {
      fail(std::string("'") + name + "' must be an integer, got " + format_number(number), name);
      return std::nullopt;
    }
    result = static_cast<int64_t>(number);
  } else {
    fail(std::string("'") + name + "' must be an integer, got " + json_kind_name(*value), name);
    return std::nullopt;
  }
  if (result < min || result > max) {
    std::string range;
    if (min != std::numeric_limits<int64_t>::min() && max != std::numeric_limits<int64_t>::max()) {
      range = "in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
    } else if (min != std::numeric_limits<int64_t>::min()) {
      range = ">= " + std::to_string(min);
    } else {
      range = "<= " + std::to_string(max);
    }
    fail(std::string("'") + name + "' must be " + range + ", got " + std::to_string(result), name);
    return std::nullopt;
  }
  return result;
}

std::optional<std::vector<std::string>> FieldReader::string_or_list(const char* name) {
  const JsonIn* value = get(name);
  if (!value || error_) return std::nullopt;
  if (value->is_string()) return std::vector<std::string>{value->get<std::string>()};
  if (!value->is_array()) {
    fail(std::string("'") + name + "' must be a string or a list of strings, got " +
             json_kind_name(*value),
         name);
    return std::nullopt;
  }
  std::vector<std::string> result;
  for (const JsonIn& item : *value) {
    if (!item.is_string()) {
      fail(std::string("'") + name + "' must be a string or a list of strings, got a list holding " +
               json_kind_name(item),
           name);
      return std::nullopt;
    }
    result.push_back(item.get<std::string>());
  }
  return result;
}

std::optional<std::vector<int32_t>> FieldReader::int_list(const char* name, int64_t min, int64_t max) {
  const JsonIn* value = get(name);
  if (!value || error_) return std::nullopt;
  if (!value->is_array()) {
    fail(std::string("'") + name + "' must be a list of integers, got " + json_kind_name(*value), name);
    return std::nullopt;
  }
  std::vector<int32_t> result;
  for (const JsonIn& item : *value) {
    if (!item.is_number_integer() || item.get<int64_t>() < min || item.get<int64_t>() > max ||
        (item.is_number_unsigned() && item.get<uint64_t>() > static_cast<uint64_t>(max))) {
      fail(std::string("'") + name + "' must hold integers in [" + std::to_string(min) + ", " +
               std::to_string(max) + "]",
           name);
      return std::nullopt;
    }
    result.push_back(static_cast<int32_t>(item.get<int64_t>()));
  }
  return result;
}

std::optional<JsonIn> FieldReader::object(const char* name) {
  const JsonIn* value = get(name);
  if (!value || error_) return std::nullopt;
  if (!value->is_object()) {
    fail(std::string("'") + name + "' must be an object, got " + json_kind_name(*value), name);
    return std::nullopt;
  }
  return *value;
}

}  // namespace kiln::api
