// --api-key: the Bearer key the protected routes require (vLLM's check), compared in constant
// time so that it cannot be guessed byte by byte from response times.
#pragma once

#include <optional>
#include <string>

#include "server/http_types.h"

namespace kiln::server {

class BearerAuth {
 public:
  explicit BearerAuth(std::optional<std::string> api_key) : api_key_(std::move(api_key)) {}

  // True without a key, else when the Authorization header is "Bearer <key>".
  bool allows(const HttpRequest& request) const;
  // 401 in OpenAI's error shape, with WWW-Authenticate: Bearer.
  static HttpResponse unauthorized();

 private:
  std::optional<std::string> api_key_;
};

}  // namespace kiln::server
