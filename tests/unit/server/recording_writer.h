// A ResponseWriter that keeps what it was given, for the socket-free server tests.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "server/http_types.h"

namespace kiln::server {

class RecordingWriter : public ResponseWriter {
 public:
  void send(HttpResponse response) override { responses.push_back(std::move(response)); }
  void start_stream(int status, Headers headers) override {
    responses.push_back(HttpResponse{status, "text/event-stream", "", std::move(headers)});
  }
  void write_stream(std::string data) override { streamed += data; }
  void end_stream() override {}
  void post(std::function<void()> task) override { task(); }
  void on_disconnect(std::function<void()>) override {}
  void set_token_counts(int, int) override {}

  std::vector<HttpResponse> responses;
  std::string streamed;
};

inline std::string header_of(const HttpResponse& response, const std::string& name) {
  for (const auto& [key, value] : response.headers) {
    if (key == name) return value;
  }
  return "";
}

}  // namespace kiln::server
