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
  // Hostile or broken clients (README "Security and limits"): every wait on a client is bounded.
  double keep_alive_timeout_s = 5;      // idle connection, no request begun (uvicorn's default)
  double header_timeout_s = 5;          // a request's headers, from its first byte; then 408
  double body_timeout_s = 10;           // a body read that receives nothing for this long: 408
  double body_min_rate_bytes_per_s = 1024;  // and the body's average rate after that grace
  double write_timeout_s = 30;          // a response write that makes no progress: the connection closes
  size_t max_header_bytes = 32 << 10;   // request line + headers (and chunked trailers): 431
  std::string version;                         // GET /version
};

}  // namespace kiln::server
