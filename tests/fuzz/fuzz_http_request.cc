// The HTTP request path as the server runs it: arbitrary bytes, delivered in chunks of a size
// the input picks, through Beast's parser with the server's limits and bounded buffer
// (server/http_request_reader.h), then routed by OpenAiService with a fake tokenizer and an
// engine that refuses every submit. Nothing may crash, leak or throw out of it.
#include <utility>  // before Asio (Boost 1.74 with GCC 12 in C++20)

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdint>
#include <string_view>

#include "fake_codec.h"
#include "server/http_request_reader.h"
#include "server/openai_service.h"

namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using namespace kiln;

// A SyncReadStream over the input, handing out at most `chunk` bytes per read, as a socket
// hands out whatever has arrived.
class MemoryStream {
 public:
  MemoryStream(std::string_view data, size_t chunk) : data_(data), chunk_(chunk) {}
  template <class Buffers>
  size_t read_some(const Buffers& buffers, beast::error_code& ec) {
    if (pos_ == data_.size()) {
      ec = net::error::eof;
      return 0;
    }
    const size_t n = net::buffer_copy(buffers, net::buffer(data_.data() + pos_, std::min(chunk_, data_.size() - pos_)));
    pos_ += n;
    ec = {};
    return n;
  }
  template <class Buffers>
  size_t read_some(const Buffers& buffers) {
    beast::error_code ec;
    const size_t n = read_some(buffers, ec);
    if (ec) throw beast::system_error(ec);
    return n;
  }

 private:
  std::string_view data_;
  size_t chunk_;
  size_t pos_ = 0;
};

class RefusingEngine : public EngineClient {
 public:
  Status submit(EngineRequest, OutputCallback) override { return Status::error("the fuzz engine runs nothing"); }
  void abort(const std::string&) override {}
  EngineStats stats() const override { return {}; }
};

class ImmediateWriter : public server::ResponseWriter {
 public:
  void send(server::HttpResponse response) override { bytes += response.body.size(); }
  void start_stream(int, server::Headers) override {}
  void write_stream(std::string data) override { bytes += data.size(); }
  void end_stream() override {}
  void post(std::function<void()> task) override { task(); }
  void on_disconnect(std::function<void()>) override {}
  void set_token_counts(int, int) override {}
  size_t bytes = 0;
};

struct Fixture {
  Fixture() : service(config(), serving()) {
    service.set_ready(server::ServingBackend{&engine, &codec, &renderer}, metrics::CacheConfigInfo{});
  }
  static server::ServerConfig config() {
    server::ServerConfig c;
    c.max_request_bytes = 1 << 20;
    c.api_key = "key";
    c.allowed_origins = {"http://ui.example"};
    return c;
  }
  static api::ServingConfig serving() {
    api::ServingConfig s;
    s.served_model_name = "m";
    s.max_model_len = 64;
    s.limits.vocab_size = 300;
    s.limits.max_sequences_per_request = 16;
    return s;
  }
  RefusingEngine engine;
  api::testing::ByteCodec codec;
  api::testing::TagRenderer renderer;
  server::OpenAiService service;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* fixture = new Fixture();  // one service for the whole run, as a server has
  if (size < 1) return 0;
  const size_t chunk = 1 + data[0] % 64 * 97;
  MemoryStream stream(std::string_view(reinterpret_cast<const char*>(data) + 1, size - 1), chunk);
  const server::ServerConfig& config = fixture->service.config();
  beast::flat_buffer buffer(server::read_buffer_limit(config));
  // Pipelined requests: keep reading while the bytes hold complete ones.
  for (int i = 0; i < 4; ++i) {
    server::RequestParser parser;
    server::configure_request_parser(config, &parser);
    beast::error_code ec;
    http::read_header(stream, buffer, parser, ec);
    if (ec) return 0;
    http::read(stream, buffer, parser, ec);
    if (ec) return 0;
    auto writer = std::make_shared<ImmediateWriter>();
    fixture->service.handle(server::take_http_request(&parser, "fuzz"), writer);
  }
  return 0;
}
