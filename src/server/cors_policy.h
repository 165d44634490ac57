// CORS as Starlette's CORSMiddleware (vLLM's) does it for --allowed-origins: preflight requests
// answered before auth (browsers send no credentials on preflight), and the allow-origin header
// on every other response to an allowed origin.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "server/http_types.h"

namespace kiln::server {

class CorsPolicy {
 public:
  explicit CorsPolicy(std::vector<std::string> allowed_origins);

  // The answer to a preflight (OPTIONS with Origin and Access-Control-Request-Method): 200 with
  // the allowed methods and the asked headers, or 400 for an origin not allowed. nullopt for
  // every other request.
  std::optional<HttpResponse> preflight(const HttpRequest& request) const;
  // `writer`, adding the allow-origin headers to whatever it sends when the request's origin is
  // allowed; `writer` itself otherwise.
  std::shared_ptr<ResponseWriter> wrap(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer) const;

 private:
  bool allowed(const std::string& origin) const;
  Headers headers_for(const std::string& origin) const;  // empty when the origin is not allowed

  std::vector<std::string> allowed_origins_;
  bool any_origin_ = false;  // "*" is in the list
};

}  // namespace kiln::server
