// One HTTP/1.1 connection: reads requests with bounded waits (keep-alive idle, header deadline,
// body stall and minimum-rate deadlines), hands each to the OpenAiService with a ResponseWriter,
// writes the response (or SSE stream) with a stall deadline, and notices a client that goes away
// while its response is pending. Beast stays inside http_session.cc and http_server.cc.
#pragma once

#include <utility>  // before Asio: Boost 1.74 with GCC 12 in C++20 mode needs it

#include <atomic>
#include <memory>

#include <boost/asio/ip/tcp.hpp>

namespace kiln::server {

class OpenAiService;

// Live counts the server reads for drain and tests; shared by every session of one server.
struct ConnectionCounters {
  std::atomic<int> open_connections{0};
  // Requests read whose response has not been fully written (or whose connection closed).
  std::atomic<int> pending_responses{0};
};

// Starts serving `socket` (already accepted). The session keeps itself alive through its pending
// operations and is gone once the connection closes.
void start_http_session(boost::asio::ip::tcp::socket socket, OpenAiService* service,
                        ConnectionCounters* counters);

}  // namespace kiln::server
