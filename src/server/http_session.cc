#include "server/http_session.h"

#include <malloc.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <exception>
#include <functional>
#include <optional>
#include <string>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/clock.h"
#include "base/log.h"
#include "server/generation_handler.h"
#include "server/http_request_reader.h"
#include "server/openai_service.h"

namespace kiln::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

constexpr size_t kTrimAfterResponseBytes = 8 << 20;

std::chrono::steady_clock::duration seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(s));
}

std::string status_line(int status) {
  const auto reason = http::obsolete_reason(static_cast<http::status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.data(), reason.size()) + "\r\n";
}

std::string format_seconds(double s) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", s);
  return text;
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
  Session(tcp::socket socket, OpenAiService* service, ConnectionCounters* counters)
      : socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        service_(service),
        config_(service->config()),
        counters_(counters),
        buffer_(read_buffer_limit(config_)) {
    counters_->open_connections.fetch_add(1);
    beast::error_code ec;
    const auto endpoint = socket_.remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
  }
  ~Session() {
    if (response_pending_) counters_->pending_responses.fetch_sub(1);
    counters_->open_connections.fetch_sub(1);
  }

  void start() {
    net::dispatch(socket_.get_executor(), beast::bind_front_handler(&Session::wait_for_request, shared_from_this()));
  }

  net::any_io_executor executor() { return socket_.get_executor(); }

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
    end_response();
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
    end_response();
    queue_write("0\r\n\r\n");
  }

  void set_disconnect_handler(uint64_t seq, std::function<void()> handler) {
    if (seq != seq_ || response_ended_) return;  // answered already: nothing to abort
    if (closed_) {
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
  // --- Reading a request ---

  // Between requests: the connection may idle for the keep-alive timeout; the header deadline
  // starts with the request's first byte.
  void wait_for_request() {
    if (closed_) return;
    parser_.emplace();
    configure_request_parser(config_, &*parser_);
    if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
    set_deadline(config_.keep_alive_timeout_s);
    socket_.async_read_some(buffer_.prepare(kReadChunkBytes),
                            beast::bind_front_handler(&Session::on_first_bytes, shared_from_this()));
  }

  void on_first_bytes(beast::error_code ec, size_t n) {
    if (ec) return close();  // idle timeout, or the client closed: nothing to answer
    buffer_.commit(n);
    read_header();
  }

  void read_header() {
    set_deadline(config_.header_timeout_s);
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, size_t) {
    if (ec && timed_out_) {
      return reject_request(408, "Request Timeout: the request headers did not arrive within " +
                                     format_seconds(config_.header_timeout_s) + " s (--http-header-timeout)");
    }
    if (ec) return read_failed(ec);
    const auto& message = parser_->get();
    if (parser_->is_done()) return dispatch_request();
    body_start_ = monotonic_seconds();
    body_bytes_ = 0;
    if (beast::iequals(message[http::field::expect], "100-continue")) {
      // curl waits a second for this before sending a large body.
      continue_line_ = "HTTP/1.1 100 Continue\r\n\r\n";
      set_deadline(config_.write_timeout_s);
      net::async_write(socket_, net::buffer(continue_line_),
                       [self = shared_from_this()](beast::error_code write_ec, size_t) {
                         if (write_ec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  // A body must keep arriving: no read may wait longer than the body timeout, and after that
  // grace the average rate must stay above the minimum (slowloris-style trickles are cut, slow
  // but steady uploads finish).
  void read_body() {
    const double now = monotonic_seconds();
    double deadline = now + config_.body_timeout_s;
    if (config_.body_min_rate_bytes_per_s > 0) {
      deadline = std::min(deadline, body_start_ + config_.body_timeout_s +
                                        static_cast<double>(body_bytes_) / config_.body_min_rate_bytes_per_s);
    }
    set_deadline(std::max(deadline - now, 0.0));
    http::async_read_some(socket_, buffer_, *parser_, beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, size_t n) {
    body_bytes_ += n;
    if (ec && timed_out_) {
      return reject_request(408, "Request Timeout: the request body stalled or arrived slower than " +
                                     format_seconds(config_.body_min_rate_bytes_per_s) +
                                     " bytes/s (--http-body-timeout, --http-body-min-rate)");
    }
    if (ec) return read_failed(ec);
    if (parser_->is_done()) return dispatch_request();
    read_body();
  }

  void read_failed(beast::error_code ec) {
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted || ec == net::error::connection_reset ||
        ec == net::error::eof || ec == net::error::broken_pipe) {
      return close();
    }
    if (ec == http::error::body_limit) {
      return reject_request(413, "Request body exceeds the limit of " + std::to_string(config_.max_request_bytes) +
                                     " bytes (--max-request-bytes)");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return reject_request(431, "Request headers (or a chunked body's trailer) exceed the limit of " +
                                     std::to_string(config_.max_header_bytes) + " bytes");
    }
    reject_request(400, "Malformed HTTP request: " + ec.message());
  }

  // Starts a new request's state (sequence number, log fields).
  void begin_request() {
    ++seq_;
    response_started_ = response_ended_ = false;
    disconnect_handler_ = nullptr;
    prompt_tokens_ = completion_tokens_ = -1;
    start_time_ = monotonic_seconds();
    keep_alive_ = false;
    if (!response_pending_) {
      response_pending_ = true;
      counters_->pending_responses.fetch_add(1);
    }
  }

  // The request cannot be read to its end: answer and close (its body cannot be skipped reliably).
  void reject_request(int status, std::string message) {
    begin_request();
    method_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().method_string()) : "?";
    path_ = parser_ && parser_->is_header_done() ? std::string(parser_->get().target()) : "?";
    clear_deadline();
    send(seq_, error_response(api::ApiError{status, std::move(message), std::nullopt}));
  }

  void dispatch_request() {
    begin_request();
    keep_alive_ = parser_->get().keep_alive() && service_->phase() != ServerPhase::kDraining;
    HttpRequest request = take_http_request(&*parser_, remote_);
    method_ = request.method;
    path_ = request.path();
    parser_.reset();  // the body moved out; the next request gets a fresh parser
    clear_deadline();
    arm_disconnect_watch();
    try {
      service_->handle(std::move(request), std::make_shared<RequestWriter>(shared_from_this(), seq_));
    } catch (const std::exception& e) {
      // A handler bug must cost this request only, never the process.
      KILN_LOG(Error) << "internal error handling " << method_ << " " << path_ << ": " << e.what();
      send(seq_, error_response(api::ApiError{500, "Internal server error", std::nullopt}));
    }
  }

  // While a response is pending, a socket at end of stream means the client closed it. The
  // reactor may report readiness that the request's own read already consumed, so end of
  // stream is confirmed with a non-blocking peek before the request is given up.
  void arm_disconnect_watch() {
    const uint64_t seq = seq_;
    socket_.async_wait(tcp::socket::wait_read, [self = shared_from_this(), seq](beast::error_code ec) {
      if (ec || seq != self->seq_ || self->response_ended_ || self->closed_) return;
      char byte;
      const ssize_t peeked = ::recv(self->socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
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
    const bool pending = response_pending_ && !response_ended_;
    if (pending) status_ = 499;  // nginx's "client closed request", for the log
    auto handler = std::move(disconnect_handler_);
    disconnect_handler_ = nullptr;
    close();
    if (pending) {
      log_access();
      if (handler) handler();
    }
  }

  // The response is complete (its last bytes may still be queued): nothing is left to abort.
  // Dropping the disconnect handler here also breaks the cycle session -> handler -> request
  // state -> writer -> session that would otherwise keep a closed connection alive.
  void end_response() {
    response_ended_ = true;
    disconnect_handler_ = nullptr;
  }

  // --- Writing ---

  void queue_write(std::string data) {
    if (closed_) return;
    response_bytes_ += data.size();
    // Coalesced: one syscall for many SSE events under load.
    outbox_ += data;
    if (!writing_) write_next();
  }

  // A write that makes no progress for the write timeout (a client that stopped reading)
  // closes the connection, which aborts its request.
  void write_next() {
    if (sent_ == inflight_.size()) {
      inflight_.clear();
      inflight_.swap(outbox_);
      sent_ = 0;
    }
    writing_ = true;
    set_deadline(config_.write_timeout_s);
    socket_.async_write_some(net::buffer(inflight_.data() + sent_, inflight_.size() - sent_),
                             beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, size_t n) {
    writing_ = false;
    if (ec) {
      if (timed_out_) {
        KILN_LOG(Warning) << remote_ << ": no write progress for " << format_seconds(config_.write_timeout_s)
                          << " s (--http-write-timeout); closing the connection";
      }
      release_write_buffers();
      return client_gone();
    }
    sent_ += n;
    if (sent_ < inflight_.size() || !outbox_.empty()) return write_next();
    inflight_.clear();
    sent_ = 0;
    clear_deadline();
    if (response_ended_) finish_response();
  }

  // The write failed (the client left or stalled past --http-write-timeout): what was left to
  // send goes, and a large response's buffers go back to the system as in finish_response
  // (a 100 MB /tokenize answer abandoned mid-write kept ~180 MiB of heap otherwise).
  void release_write_buffers() {
    std::string().swap(inflight_);
    std::string().swap(outbox_);
    sent_ = 0;
    if (response_bytes_ >= kTrimAfterResponseBytes) malloc_trim(0);
    response_bytes_ = 0;
  }

  // Everything of the response is written: log it, then read the next request or close.
  void finish_response() {
    log_access();
    // A large response (a 10 MB prompt's tokens, prompt logprobs) leaves its many small
    // buffers free in the heap, where glibc keeps them: give those pages back to the system.
    if (response_bytes_ >= kTrimAfterResponseBytes) malloc_trim(0);
    response_bytes_ = 0;
    if (response_pending_) {
      response_pending_ = false;
      counters_->pending_responses.fetch_sub(1);
    }
    beast::error_code cancel_ec;
    socket_.cancel(cancel_ec);  // the disconnect watch
    // A draining server closes kept-alive connections once their response is out.
    if (keep_alive_ && service_->phase() != ServerPhase::kDraining) {
      wait_for_request();
    } else {
      socket_.shutdown(tcp::socket::shutdown_send, cancel_ec);
      close();
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
    disconnect_handler_ = nullptr;
    if (response_pending_) {
      response_pending_ = false;
      counters_->pending_responses.fetch_sub(1);
    }
    clear_deadline();
    beast::error_code ec;
    socket_.close(ec);
  }

  // One deadline for the operation in progress (reads and writes never overlap). When it
  // passes, the socket's operations are cancelled (not the socket closed, so that a 408 can
  // still be written) and timed_out_ tells their handlers why.
  void set_deadline(double seconds_from_now) {
    timed_out_ = false;
    const uint64_t generation = ++deadline_generation_;
    deadline_.expires_after(seconds(seconds_from_now));
    deadline_.async_wait([self = shared_from_this(), generation](beast::error_code ec) {
      if (ec || generation != self->deadline_generation_ || self->closed_) return;
      self->timed_out_ = true;
      beast::error_code cancel_ec;
      self->socket_.cancel(cancel_ec);
    });
  }
  void clear_deadline() {
    ++deadline_generation_;
    deadline_.cancel();
  }

  tcp::socket socket_;
  net::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;
  bool timed_out_ = false;
  OpenAiService* service_;
  const ServerConfig& config_;
  ConnectionCounters* counters_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  std::string continue_line_;
  double body_start_ = 0;
  size_t body_bytes_ = 0;
  size_t response_bytes_ = 0;  // of the response being written
  std::string outbox_;    // queued, not yet handed to the socket
  std::string inflight_;  // being written; sent_ bytes of it are out
  size_t sent_ = 0;
  bool writing_ = false;
  bool closed_ = false;
  bool keep_alive_ = false;
  bool response_started_ = false;
  bool response_ended_ = false;
  bool response_pending_ = false;  // counted in counters_->pending_responses
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

void start_http_session(tcp::socket socket, OpenAiService* service, ConnectionCounters* counters) {
  std::make_shared<Session>(std::move(socket), service, counters)->start();
}

}  // namespace kiln::server
