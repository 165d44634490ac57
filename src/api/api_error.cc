#include "api/api_error.h"

namespace kiln::api {

ApiError bad_request(std::string message, std::optional<std::string> param) {
  return ApiError{400, std::move(message), std::move(param)};
}

ApiError model_not_found(const std::string& model) {
  return ApiError{404, "The model `" + model + "` does not exist.", "model"};
}

const char* error_type_for_status(int status) {
  switch (status) {
    case 400: return "BadRequestError";
    case 401: return "AuthenticationError";
    case 403: return "PermissionDeniedError";
    case 404: return "NotFoundError";
    case 405: return "MethodNotAllowedError";
    case 408: return "RequestTimeoutError";
    case 413: return "RequestEntityTooLargeError";
    case 422: return "UnprocessableEntityError";
    case 429: return "RateLimitError";
    case 431: return "RequestHeaderFieldsTooLargeError";
    case 503: return "ServiceUnavailableError";
    default: return status >= 500 ? "InternalServerError" : "BadRequestError";
  }
}

Json error_body(const ApiError& error) {
  Json inner;
  inner["message"] = error.message;
  inner["type"] = error_type_for_status(error.status);
  inner["param"] = error.param ? Json(*error.param) : Json(nullptr);
  inner["code"] = error.status;
  Json body;
  body["error"] = std::move(inner);
  return body;
}

std::string dump_json(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace kiln::api
