#include "server/cors_policy.h"

#include <algorithm>
#include <utility>

namespace kiln::server {
namespace {

// Adds fixed headers to every response it passes on.
class HeaderAddingWriter : public ResponseWriter {
 public:
  HeaderAddingWriter(std::shared_ptr<ResponseWriter> inner, Headers extra)
      : inner_(std::move(inner)), extra_(std::move(extra)) {}
  void send(HttpResponse response) override {
    response.headers.insert(response.headers.end(), extra_.begin(), extra_.end());
    inner_->send(std::move(response));
  }
  void start_stream(int status, Headers headers) override {
    headers.insert(headers.end(), extra_.begin(), extra_.end());
    inner_->start_stream(status, std::move(headers));
  }
  void write_stream(std::string data) override { inner_->write_stream(std::move(data)); }
  void end_stream() override { inner_->end_stream(); }
  void post(std::function<void()> task) override { inner_->post(std::move(task)); }
  void on_disconnect(std::function<void()> handler) override { inner_->on_disconnect(std::move(handler)); }
  void set_token_counts(int prompt_tokens, int completion_tokens) override {
    inner_->set_token_counts(prompt_tokens, completion_tokens);
  }

 private:
  std::shared_ptr<ResponseWriter> inner_;
  Headers extra_;
};

}  // namespace

CorsPolicy::CorsPolicy(std::vector<std::string> allowed_origins)
    : allowed_origins_(std::move(allowed_origins)),
      any_origin_(std::find(allowed_origins_.begin(), allowed_origins_.end(), "*") != allowed_origins_.end()) {}

bool CorsPolicy::allowed(const std::string& origin) const {
  return any_origin_ || std::find(allowed_origins_.begin(), allowed_origins_.end(), origin) != allowed_origins_.end();
}

Headers CorsPolicy::headers_for(const std::string& origin) const {
  if (origin.empty() || !allowed(origin)) return {};
  Headers headers = {{"access-control-allow-origin", any_origin_ ? "*" : origin}};
  if (!any_origin_) headers.emplace_back("vary", "Origin");
  return headers;
}

std::optional<HttpResponse> CorsPolicy::preflight(const HttpRequest& request) const {
  const std::string origin = request.header("origin");
  if (request.method != "OPTIONS" || origin.empty() || request.header("access-control-request-method").empty()) {
    return std::nullopt;
  }
  if (!allowed(origin)) return HttpResponse{400, "text/plain; charset=utf-8", "Disallowed CORS origin", {}};
  HttpResponse response{200, "text/plain; charset=utf-8", "OK", headers_for(origin)};
  response.headers.emplace_back("access-control-allow-methods", "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
  response.headers.emplace_back("access-control-max-age", "600");
  const std::string asked = request.header("access-control-request-headers");
  if (!asked.empty()) response.headers.emplace_back("access-control-allow-headers", asked);
  return response;
}

std::shared_ptr<ResponseWriter> CorsPolicy::wrap(const HttpRequest& request,
                                                 std::shared_ptr<ResponseWriter> writer) const {
  Headers headers = headers_for(request.header("origin"));
  if (headers.empty()) return writer;
  return std::make_shared<HeaderAddingWriter>(std::move(writer), std::move(headers));
}

}  // namespace kiln::server
