#include "server/static_files.h"

#include <string>

#include "web/embedded_file.h"

namespace kiln::server {

std::optional<HttpResponse> static_file_response(const HttpRequest& request) {
  if (request.method != "GET" && request.method != "HEAD") return std::nullopt;
  const auto file = web::find_embedded_file(request.path());
  if (!file) return std::nullopt;
  const bool fresh = request.header("if-none-match") == file->etag;
  HttpResponse response{fresh ? 304 : 200, std::string(file->content_type),
                        fresh ? std::string() : std::string(file->content), {}};
  response.headers.emplace_back("etag", std::string(file->etag));
  response.headers.emplace_back("cache-control", file->immutable ? "public, max-age=31536000, immutable" : "no-cache");
  return response;
}

}  // namespace kiln::server
