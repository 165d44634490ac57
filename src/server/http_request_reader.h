// How the server reads a request off the wire, shared by the sessions and the fuzz target that
// feeds the same parser arbitrary bytes (tests/fuzz/fuzz_http_request.cc): Beast's parser with
// the server's limits, the bounded buffer around it, and the conversion to HttpRequest.
#pragma once

#include <utility>  // before Asio: Boost 1.74 with GCC 12 in C++20 mode needs it

#include <string>

#include <boost/beast/http.hpp>

#include "server/http_types.h"
#include "server/server_config.h"

namespace kiln::server {

using RequestParser = boost::beast::http::request_parser<boost::beast::http::string_body>;

// Read size of one socket read.
inline constexpr size_t kReadChunkBytes = 16 << 10;

void configure_request_parser(const ServerConfig& config, RequestParser* parser);

// Bounds everything held unparsed: the request line and headers, chunk lines and the trailer of
// a chunked body (which Beast's header limit does not cover) and pipelined bytes. Beast throws
// std::length_error for a field of 64 KiB or more; this keeps every field below that.
size_t read_buffer_limit(const ServerConfig& config);

// The parsed message as the service sees it (header names lower-cased; the body moves out).
HttpRequest take_http_request(RequestParser* parser, const std::string& remote_address);

}  // namespace kiln::server
