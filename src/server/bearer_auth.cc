#include "server/bearer_auth.h"

#include <algorithm>

#include "api/api_error.h"
#include "server/generation_handler.h"

namespace kiln::server {
namespace {

bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0;
}

}  // namespace

bool BearerAuth::allows(const HttpRequest& request) const {
  if (!api_key_) return true;
  const std::string header = request.header("authorization");
  if (header.rfind("Bearer ", 0) != 0) return false;
  return constant_time_equal(header.substr(7), *api_key_);
}

HttpResponse BearerAuth::unauthorized() {
  HttpResponse response = error_response(api::ApiError{401, "Unauthorized", std::nullopt});
  response.headers.emplace_back("www-authenticate", "Bearer");
  return response;
}

}  // namespace kiln::server
