#include "server/http_request_reader.h"

#include <algorithm>
#include <cctype>
#include <cstdint>

namespace kiln::server {

void configure_request_parser(const ServerConfig& config, RequestParser* parser) {
  parser->body_limit(config.max_request_bytes);
  parser->header_limit(static_cast<uint32_t>(std::min<size_t>(config.max_header_bytes, 60 << 10)));
}

size_t read_buffer_limit(const ServerConfig& config) {
  return std::min<size_t>(config.max_header_bytes, 60 << 10) + kReadChunkBytes / 4;
}

HttpRequest take_http_request(RequestParser* parser, const std::string& remote_address) {
  auto& message = parser->get();
  HttpRequest request;
  request.method = std::string(message.method_string());
  request.target = std::string(message.target());
  for (const auto& field : message) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    request.headers[name] = std::string(field.value());
  }
  request.body = std::move(message.body());
  request.remote_address = remote_address;
  return request;
}

}  // namespace kiln::server
