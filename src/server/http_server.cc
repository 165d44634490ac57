#include <utility>  // before Asio: Boost 1.74 with GCC 12 in C++20 mode needs it

#include "server/http_server.h"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "server/generation_handler.h"

namespace kiln::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr auto kIdleTimeout = std::chrono::seconds(5);  // uvicorn's keep-alive timeout

std::string status_line(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) + "\r\n";
}

class Session;

// The writer of one request on one connection: calls hop onto the connection's strand and are
// dropped once the connection has moved on to another request or closed.
class RequestWriter : public ResponseWriter {
 public:
  RequestWriter(std::shared_ptr<Session> session, uint64_t seq) : session_(std::move(session)), seq_(seq) {}
  void send(HttpResponse response) override;
  void start_stream(int status, Headers headers) override;
  void write_stream(std::string data) override;
  void end_stream() override;
  void post(std::function<void()> task) override;
  void on_disconnect(std::function<void()> handler) override;
  void set_token_counts(int prompt_tokens, int completion_tokens) override;

 private:
  std::shared_ptr<Session> session_;
  uint64_t seq_;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, OpenAiService* service)
      : stream_(std::move(socket)), service_(service) {
    beast::error_code ec;
    const auto endpoint = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }

  void start() {
    net::dispatch(stream_.get_executor(), beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  net::any_io_executor executor() { return stream_.get_executor(); }

  // --- ResponseWriter operations, on the strand ---
  bool current(uint64_t seq) const { return seq == seq_ && !closed_ && !response_ended_; }

  void send(uint64_t seq, HttpResponse response) {
    if (!current(seq) || response_started_) return;
    status_ = response.status;
    std::string out = status_line(response.status);
    out += "content-type: " + response.content_type + "\r\n";
    out += "content-length: " + std::to_string(response.body.size()) + "\r\n";
    for (const auto& [name, value] : response.headers) out += name + ": " + value + "\r\n";
    if (!keep_alive_) out += "connection: close\r\n";
    out += "\r\n";
    if (method_ != "HEAD") out += response.body;
    response_started_ = true;
    response_ended_ = true;
    queue_write(std::move(out));
  }

  void start_stream(uint64_t seq, int status, const Headers& headers) {
    if (!current(seq) || response_started_) return;
    status_ = status;
    std::string out = status_line(status);
    out += "content-type: text/event-stream; charset=utf-8\r\n";
    out += "cache-control: no-cache\r\n";
    out += "transfer-encoding: chunked\r\n";
    for (const auto& [name, value] : headers) out += name + ": " + value + "\r\n";
    if (!keep_alive_) out += "connection: close\r\n";
    out += "\r\n";
    response_started_ = true;
    queue_write(std::move(out));
  }

  void write_stream(uint64_t seq, std::string data) {
    if (!current(seq) || !response_started_ || data.empty()) return;
    char size[32];
    std::snprintf(size, sizeof size, "%zx\r\n", data.size());
    queue_write(size + std::move(data) + "\r\n");
  }

  void end_stream(uint64_t seq) {
    if (!current(seq) || !response_started_) return;
    response_ended_ = true;
    queue_write("0\r\n\r\n");
  }

  void set_disconnect_handler(uint64_t seq, std::function<void()> handler) {
    if (seq != seq_) return;
    if (closed_ && !response_ended_) {
      handler();  // already gone
      return;
    }
    disconnect_handler_ = std::move(handler);
  }

  void set_token_counts(uint64_t seq, int prompt_tokens, int completion_tokens) {
    if (seq != seq_) return;
    prompt_tokens_ = prompt_tokens;
    completion_tokens_ = completion_tokens;
  }

 private:
  void do_read() {
    if (closed_) return;
    parser_.emplace();
    parser_->body_limit(service_->config().max_request_bytes);
    parser_->header_limit(64 * 1024);
    stream_.expires_after(kIdleTimeout);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, size_t) {
    if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == net::error::operation_aborted ||
        ec == net::error::connection_reset || ec == net::error::eof) {
      return close();
    }
    ++seq_;
    response_started_ = response_ended_ = false;
    disconnect_handler_ = nullptr;
    prompt_tokens_ = completion_tokens_ = -1;
    start_time_ = monotonic_seconds();
    keep_alive_ = false;
    if (ec) {
      // The body cannot be skipped reliably after a bad or oversized request: answer and close.
      method_ = parser_->is_header_done() ? std::string(parser_->get().method_string()) : "?";
      path_ = parser_->is_header_done() ? std::string(parser_->get().target()) : "?";
      const bool too_large = ec == http::error::body_limit;
      api::ApiError error{too_large ? 413 : 400,
                          too_large ? "Request body exceeds the limit of " +
                                          std::to_string(service_->config().max_request_bytes) + " bytes"
                                    : "Malformed HTTP request: " + ec.message(),
                          std::nullopt};
      send(seq_, error_response(error));
      return;
    }
    auto& message = parser_->get();
    HttpRequest request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers[name] = std::string(field.value());
    }
    request.body = std::move(message.body());
    request.remote_address = remote_;
    method_ = request.method;
    path_ = request.path();
    keep_alive_ = message.keep_alive() && service_->phase() != ServerPhase::kDraining;
    stream_.expires_never();
    arm_disconnect_watch();
    service_->handle(std::move(request), std::make_shared<RequestWriter>(shared_from_this(), seq_));
  }

  // While a response is pending, a socket at end of stream means the client closed it. The
  // reactor may report readiness that the request's own read already consumed, so end of
  // stream is confirmed with a non-blocking peek before the request is given up.
  void arm_disconnect_watch() {
    const uint64_t seq = seq_;
    stream_.socket().async_wait(tcp::socket::wait_read,
                                [self = shared_from_this(), seq](beast::error_code ec) {
                                  if (ec || seq != self->seq_ || self->response_ended_) return;
                                  char byte;
                                  const ssize_t peeked = ::recv(self->stream_.socket().native_handle(), &byte, 1,
                                                                MSG_PEEK | MSG_DONTWAIT);
                                  if (peeked > 0) return;  // a pipelined request; it is read afterwards
                                  if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                                    self->arm_disconnect_watch();  // nothing there after all: keep watching
                                    return;
                                  }
                                  self->client_gone();  // end of stream, or the connection was reset
                                });
  }

  void client_gone() {
    if (closed_) return;
    if (!response_ended_) status_ = 499;  // nginx's "client closed request", for the log
    auto handler = std::move(disconnect_handler_);
    disconnect_handler_ = nullptr;
    const bool pending = !response_ended_;
    close();
    if (pending) {
      log_access();
      if (handler) handler();
    }
  }

  void queue_write(std::string data) {
    queue_.push_back(std::move(data));
    if (!writing_) write_next();
  }

  void write_next() {
    // Coalesce queued chunks: one syscall for many SSE events under load.
    while (queue_.size() > 1) {
      std::string second = std::move(queue_[1]);
      queue_.erase(queue_.begin() + 1);
      queue_.front() += second;
    }
    writing_ = true;
    net::async_write(stream_, net::buffer(queue_.front()),
                     beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t) {
    writing_ = false;
    if (ec) {
      queue_.clear();
      return client_gone();
    }
    queue_.pop_front();
    if (!queue_.empty()) return write_next();
    if (response_ended_) {
      log_access();
      beast::error_code cancel_ec;
      stream_.socket().cancel(cancel_ec);  // the disconnect watch
      if (keep_alive_) {
        do_read();
      } else {
        stream_.socket().shutdown(tcp::socket::shutdown_send, cancel_ec);
        close();
      }
    }
  }

  void log_access() {
    if (logged_seq_ == seq_) return;
    logged_seq_ = seq_;
    const double ms = (monotonic_seconds() - start_time_) * 1000.0;
    std::string tokens;
    if (prompt_tokens_ >= 0) {
      tokens = " prompt_tokens=" + std::to_string(prompt_tokens_) +
               " completion_tokens=" + std::to_string(completion_tokens_);
    }
    char duration[32];
    std::snprintf(duration, sizeof duration, "%.1f", ms);
    KILN_LOG(Info) << remote_ << " \"" << method_ << " " << path_ << " HTTP/1.1\" " << status_ << tokens
                   << " duration_ms=" << duration;
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    beast::error_code ec;
    stream_.socket().close(ec);
  }

  beast::tcp_stream stream_;
  OpenAiService* service_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::deque<std::string> queue_;
  bool writing_ = false;
  bool closed_ = false;
  bool keep_alive_ = false;
  bool response_started_ = false;
  bool response_ended_ = false;
  uint64_t seq_ = 0;
  uint64_t logged_seq_ = 0;
  std::function<void()> disconnect_handler_;
  std::string remote_;
  std::string method_;
  std::string path_;
  int status_ = 0;
  int prompt_tokens_ = -1;
  int completion_tokens_ = -1;
  double start_time_ = 0;
};

void RequestWriter::send(HttpResponse response) {
  net::post(session_->executor(), [s = session_, seq = seq_, r = std::move(response)]() mutable { s->send(seq, std::move(r)); });
}
void RequestWriter::start_stream(int status, Headers headers) {
  net::post(session_->executor(), [s = session_, seq = seq_, status, h = std::move(headers)] { s->start_stream(seq, status, h); });
}
void RequestWriter::write_stream(std::string data) {
  net::post(session_->executor(), [s = session_, seq = seq_, d = std::move(data)]() mutable { s->write_stream(seq, std::move(d)); });
}
void RequestWriter::end_stream() {
  net::post(session_->executor(), [s = session_, seq = seq_] { s->end_stream(seq); });
}
void RequestWriter::post(std::function<void()> task) { net::post(session_->executor(), std::move(task)); }
void RequestWriter::on_disconnect(std::function<void()> handler) {
  net::post(session_->executor(), [s = session_, seq = seq_, h = std::move(handler)]() mutable {
    s->set_disconnect_handler(seq, std::move(h));
  });
}
void RequestWriter::set_token_counts(int prompt_tokens, int completion_tokens) {
  net::post(session_->executor(), [s = session_, seq = seq_, prompt_tokens, completion_tokens] {
    s->set_token_counts(seq, prompt_tokens, completion_tokens);
  });
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(OpenAiService* service)
      : service(service), ioc(std::max(1, service->config().num_threads)), acceptor(ioc), drain_timer(ioc) {}

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (ec) {
        KILN_LOG(Warning) << "accept failed: " << ec.message();
      } else {
        beast::error_code opt_ec;
        socket.set_option(tcp::no_delay(true), opt_ec);  // SSE events go out at once
        std::make_shared<Session>(std::move(socket), service)->start();
      }
      accept();
    });
  }

  void poll_drain() {
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([this](beast::error_code ec) {
      if (ec) return;
      const double waited = monotonic_seconds() - drain_start;
      if (service->num_in_flight() == 0) {
        KILN_LOG(Info) << "Drained; shutting down";
        ioc.stop();
      } else if (waited >= service->config().drain_timeout_s) {
        KILN_LOG(Warning) << "Drain timeout (" << service->config().drain_timeout_s << " s) with "
                          << service->num_in_flight() << " requests in flight; shutting down";
        ioc.stop();
      } else {
        poll_drain();
      }
    });
  }

  OpenAiService* service;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer drain_timer;
  std::atomic<bool> draining{false};
  double drain_start = 0;
};

HttpServer::HttpServer(OpenAiService* service) : impl_(std::make_unique<Impl>(service)) {}

HttpServer::~HttpServer() {
  impl_->ioc.stop();
}

Status HttpServer::listen() {
  const ServerConfig& config = impl_->service->config();
  beast::error_code ec;
  tcp::resolver resolver(impl_->ioc);
  auto results = resolver.resolve(config.host, std::to_string(config.port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  const std::string where = config.host + ":" + std::to_string(config.port);
  if (ec || results.empty()) return Status::error("--host " + config.host + ": cannot resolve: " + ec.message());
  const tcp::endpoint endpoint = results.begin()->endpoint();
  impl_->acceptor.open(endpoint.protocol(), ec);
  if (!ec) impl_->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) impl_->acceptor.bind(endpoint, ec);
  if (!ec) impl_->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return Status::error("cannot listen on " + where + ": " + ec.message());
  return ok_status();
}

int HttpServer::port() const {
  beast::error_code ec;
  return impl_->acceptor.local_endpoint(ec).port();
}

void HttpServer::run(bool handle_signals) {
  std::optional<net::signal_set> signals;
  if (handle_signals) {
    signals.emplace(impl_->ioc, SIGINT, SIGTERM);
    std::function<void(beast::error_code, int)> on_signal;
    on_signal = [this, &signals, &on_signal](beast::error_code ec, int signal) {
      if (ec) return;
      if (impl_->draining.load()) {
        KILN_LOG(Warning) << "Second signal " << signal << ": stopping now";
        impl_->ioc.stop();
        return;
      }
      KILN_LOG(Info) << "Signal " << signal << ": draining (up to " << impl_->service->config().drain_timeout_s
                     << " s)";
      drain();
      signals->async_wait(on_signal);
    };
    signals->async_wait(on_signal);
  }
  impl_->accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->service->config().num_threads; ++i) {
    threads.emplace_back([this] { impl_->ioc.run(); });
  }
  impl_->ioc.run();
  for (std::thread& thread : threads) thread.join();
}

void HttpServer::drain() {
  net::post(impl_->ioc, [this] {
    if (impl_->draining.exchange(true)) return;
    impl_->service->begin_drain();
    impl_->drain_start = monotonic_seconds();
    impl_->poll_drain();
  });
}

void HttpServer::stop() { impl_->ioc.stop(); }

}  // namespace kiln::server
