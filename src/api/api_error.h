// Errors as the OpenAI API (and vLLM) return them: an HTTP status and the nested body
// {"error": {"message", "type", "param", "code"}}. `param` names the request field at fault so
// that a client can act on it.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

namespace kiln::api {

using Json = nlohmann::ordered_json;

struct ApiError {
  int status = 400;
  std::string message;
  std::optional<std::string> param;
};

ApiError bad_request(std::string message, std::optional<std::string> param = std::nullopt);
ApiError model_not_found(const std::string& model);  // 404, vLLM's "The model `X` does not exist."

// "BadRequestError", "AuthenticationError", "NotFoundError", ... as vLLM names them.
const char* error_type_for_status(int status);

// {"error": {"message", "type", "param", "code"}}; code is the HTTP status, as in vLLM.
Json error_body(const ApiError& error);

// Serializes JSON for the wire; never throws on strings that hold invalid UTF-8 (they are
// replaced with U+FFFD) so that an odd token can never take a response down.
std::string dump_json(const Json& json);

// A value or the ApiError that stops the request.
template <typename T>
class ApiResult {
 public:
  ApiResult(T value) : state_(std::move(value)) {}          // NOLINT: implicit by design
  ApiResult(ApiError error) : state_(std::move(error)) {}   // NOLINT: implicit by design
  bool ok() const { return state_.index() == 0; }
  T& value() & { return std::get<0>(state_); }
  const T& value() const& { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const ApiError& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, ApiError> state_;
};

}  // namespace kiln::api
