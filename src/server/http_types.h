// The HTTP request as the service sees it, and the writer it answers through. Keeping the
// service behind these two types lets routes, auth, CORS and streaming be tested without
// sockets, and keeps Beast inside http_session.cc and http_server.cc.
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace kiln::server {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, e.g. "/v1/models?x=1"
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;
  std::string remote_address;

  std::string path() const { return target.substr(0, target.find('?')); }
  std::string header(const std::string& lower_name) const {
    auto it = headers.find(lower_name);
    return it == headers.end() ? std::string() : it->second;
  }
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  Headers headers;
};

// One response per request. Every method may be called from any thread: the writer runs the
// work on its connection's strand, in call order.
class ResponseWriter {
 public:
  virtual ~ResponseWriter() = default;
  virtual void send(HttpResponse response) = 0;
  // Starts a "text/event-stream" response (chunked); then write_stream..., end_stream.
  virtual void start_stream(int status, Headers headers) = 0;
  virtual void write_stream(std::string data) = 0;
  virtual void end_stream() = 0;
  // Runs `task` on the connection's strand (where the request's state lives).
  virtual void post(std::function<void()> task) = 0;
  // Called once, on the strand, when the client goes away before the response ended.
  virtual void on_disconnect(std::function<void()> handler) = 0;
  // Token counts for the access-log line.
  virtual void set_token_counts(int prompt_tokens, int completion_tokens) = 0;
};

}  // namespace kiln::server
