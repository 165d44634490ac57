// The HTTP/1.1 server: a Boost.Asio acceptor and a few threads; each connection is an
// HTTP session (server/http_session.h: keep-alive, limits and deadlines, SSE, disconnect
// detection) that hands requests to the OpenAiService. run() returns after SIGTERM/SIGINT once
// in-flight requests finished (or the drain timeout passed and they were ended with an error),
// at a second signal, or after stop(). Accept failures for lack of descriptors back off instead
// of spinning, and an exception escaping a connection's handler closes that connection only.
#pragma once

#include <memory>
#include <string>

#include "base/status.h"
#include "server/openai_service.h"

namespace kiln::server {

class HttpServer {
 public:
  explicit HttpServer(OpenAiService* service);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0 picks a free one). Errors name the address.
  Status listen();
  int port() const;
  // Serves until stopped; installs SIGTERM/SIGINT handlers that drain first when
  // handle_signals is true.
  void run(bool handle_signals);
  // Starts a graceful drain (as SIGTERM does) from any thread.
  void drain();
  // Stops at once from any thread.
  void stop();
  // Connections open now (accepted and not yet closed and released).
  int num_open_connections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace kiln::server
