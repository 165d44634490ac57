// Reads typed, range-checked fields out of a request's JSON object. The first problem found is
// kept as an ApiError whose message and param name the field; later reads are no-ops, so a
// parser reads every field it knows and checks error() once. Unknown fields are never looked at
// (OpenAI clients send fields vLLM ignores, and so do we).
#pragma once

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/api_error.h"

namespace kiln::api {

using JsonIn = nlohmann::json;

class FieldReader {
 public:
  explicit FieldReader(const JsonIn& object) : object_(object) {}

  // Present and not null.
  bool has(const char* name) const;
  const JsonIn* get(const char* name) const;

  std::optional<bool> boolean(const char* name);
  std::optional<std::string> string(const char* name);
  // Any finite JSON number in [min, max].
  std::optional<double> number(const char* name, double min = -std::numeric_limits<double>::max(),
                               double max = std::numeric_limits<double>::max());
  // A JSON integer (or a number with no fraction, as pydantic accepts) in [min, max].
  std::optional<int64_t> integer(const char* name, int64_t min = std::numeric_limits<int64_t>::min(),
                                 int64_t max = std::numeric_limits<int64_t>::max());
  // A string or a list of strings (stop).
  std::optional<std::vector<std::string>> string_or_list(const char* name);
  std::optional<std::vector<int32_t>> int_list(const char* name, int64_t min, int64_t max);
  std::optional<JsonIn> object(const char* name);

  void fail(ApiError error);
  void fail(const std::string& message, const char* param) { fail(bad_request(message, param)); }
  bool ok() const { return !error_; }
  const std::optional<ApiError>& error() const { return error_; }

 private:
  const JsonIn& object_;
  std::optional<ApiError> error_;
};

// "a boolean", "a string", "an object", ... for error messages.
std::string json_kind_name(const JsonIn& value);

// Formats a number for an error message as Python would (1, 0.5, -2.0 -> "-2.0").
std::string format_number(double value);

}  // namespace kiln::api
