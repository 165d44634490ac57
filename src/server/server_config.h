// The HTTP server's settings, filled by `kiln serve` from its flags and environment.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace kiln::server {

struct ServerConfig {
  std::string host = "0.0.0.0";
  int port = 8000;
  int num_threads = 4;  // HTTP threads; SSE streams are async, a few threads serve thousands
  std::optional<std::string> api_key;          // Bearer token for /v1/*, /tokenize, /detokenize
  std::vector<std::string> allowed_origins = {"*"};  // CORS, vLLM's default
  size_t max_request_bytes = 32 << 20;         // larger bodies get 413
  double drain_timeout_s = 30;                 // SIGTERM: how long in-flight requests may finish
  std::string version;                         // GET /version
};

}  // namespace kiln::server
