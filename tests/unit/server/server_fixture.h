// The fixture of the server tests: a real HttpServer on a free 127.0.0.1 port with a fake
// engine (fake_engine.h) and the api tests' fake tokenizer, and a Beast client.
#pragma once

#include <utility>  // before Asio (Boost 1.74 with GCC 12 in C++20)

#include <gtest/gtest.h>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "fake_codec.h"
#include "fake_engine.h"
#include "server/http_server.h"

namespace kiln::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct Reply {
  int status = 0;
  std::string body;
  http::response<http::string_body> raw;
  std::string header(const char* name) const { return std::string(raw[name]); }
  nlohmann::json json() const { return nlohmann::json::parse(body); }
};

class ServerTest : public ::testing::Test {
 protected:
  void start(ServerConfig config = {}, bool ready = true, bool handle_signals = false) {
    config.host = "127.0.0.1";
    config.port = 0;
    config.num_threads = 2;
    config.version = "0.1.0";
    api::ServingConfig serving;
    serving.served_model_name = "tiny";
    serving.max_model_len = 200;
    serving.limits.vocab_size = 300;
    service_ = std::make_unique<OpenAiService>(config, serving);
    if (ready) make_ready();
    server_ = std::make_unique<HttpServer>(service_.get());
    ASSERT_TRUE(server_->listen().ok());
    port_ = server_->port();
    thread_ = std::thread([this, handle_signals] { server_->run(handle_signals); });
  }
  void make_ready() {
    service_->set_ready(ServingBackend{&engine_, &codec_, &renderer_}, metrics::CacheConfigInfo{});
  }
  void TearDown() override {
    if (server_) server_->stop();
    if (thread_.joinable()) thread_.join();
    engine_.shutdown();  // drops callbacks that hold connections before the server goes
  }

  // Sends a streamed completion on a raw socket, reads until the stream has started, then
  // closes the connection as a client that goes away would.
  void start_stream_then_disconnect() {
    net::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)));
    const std::string body = R"({"prompt":"Hold","max_tokens":100,"stream":true})";
    const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    net::write(socket, net::buffer(head + body));
    char data[256];
    socket.read_some(net::buffer(data));
  }

  Reply request(const std::string& method, const std::string& target, const std::string& body = "",
                std::vector<std::pair<std::string, std::string>> headers = {}) {
    net::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)));
    http::request<http::string_body> req{http::string_to_verb(method), target, 11};
    req.set(http::field::host, "localhost");
    for (auto& [name, value] : headers) req.set(name, value);
    if (!body.empty() || method == "POST") {
      req.set(http::field::content_type, "application/json");
      req.body() = body;
      req.prepare_payload();
    }
    http::write(stream, req);
    beast::flat_buffer buffer;
    Reply reply;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 << 20);
    http::read(stream, buffer, parser);
    reply.raw = parser.release();
    reply.status = reply.raw.result_int();
    reply.body = reply.raw.body();
    return reply;
  }

  testing::FakeEngine engine_;
  api::testing::ByteCodec codec_;
  api::testing::TagRenderer renderer_;
  std::unique_ptr<OpenAiService> service_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  int port_ = 0;
};

inline const std::string kChat = R"({"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":3})";

// Splits an SSE body into its events (without the blank-line separators).
inline std::vector<std::string> sse_events(const std::string& body) {
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < body.size()) {
    const size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event in " << body;
      break;
    }
    events.push_back(body.substr(pos, end - pos));
    pos = end + 2;
  }
  return events;
}

}  // namespace kiln::server
