#include <utility>  // before Asio: Boost 1.74 with GCC 12 in C++20 mode needs it

#include "server/http_server.h"

#include <sys/socket.h>

#include <cerrno>

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <chrono>
#include <optional>
#include <algorithm>
#include <cstdio>
#include <thread>
#include <vector>

#include "base/clock.h"
#include "base/log.h"
#include "server/http_session.h"

namespace kiln::server {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {

// Accept failures that mean "out of descriptors or memory for now": retrying at once would spin.
bool resource_exhausted(const beast::error_code& ec) {
  return ec == net::error::no_descriptors || ec.value() == ENFILE || ec == net::error::no_buffer_space ||
         ec == net::error::no_memory;
}

}  // namespace

struct HttpServer::Impl {
  explicit Impl(OpenAiService* service)
      : service(service),
        ioc(std::max(1, service->config().num_threads)),
        acceptor(ioc),
        accept_retry_timer(ioc),
        drain_timer(ioc) {}

  void accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
      if (!ec) {
        accept_backoff_ms = 0;
        beast::error_code opt_ec;
        socket.set_option(tcp::no_delay(true), opt_ec);  // SSE events go out at once
        start_http_session(std::move(socket), service, &counters);
        return accept();
      }
      // Out of file descriptors (or memory): the pending connection stays in the backlog. Wait
      // a little, doubling up to 1 s, while existing connections keep being served, and log
      // once per 10 s instead of once per failed accept.
      ++accept_failures;
      const double now = monotonic_seconds();
      if (now - last_accept_log >= 10) {
        KILN_LOG(Warning) << "accept failed: " << ec.message() << " (" << accept_failures
                          << " times since the last report); serving existing connections and retrying"
                          << (resource_exhausted(ec) ? " with backoff" : "");
        last_accept_log = now;
        accept_failures = 0;
      }
      if (!resource_exhausted(ec)) return accept();
      accept_backoff_ms = std::clamp(accept_backoff_ms * 2, 10, 1000);
      accept_retry_timer.expires_after(std::chrono::milliseconds(accept_backoff_ms));
      accept_retry_timer.async_wait([this](beast::error_code timer_ec) {
        if (!timer_ec) accept();
      });
    });
  }

  void wait_for_signal() {
    signals->async_wait([this](beast::error_code ec, int signal) {
      if (ec) return;
      if (draining.load()) {
        // vLLM: a second Ctrl-C exits at once.
        KILN_LOG(Warning) << "Second signal " << signal << ": stopping now";
        ioc.stop();
        return;
      }
      KILN_LOG(Info) << "Signal " << signal << ": draining (up to " << service->config().drain_timeout_s << " s)";
      start_drain();
      wait_for_signal();
    });
  }

  void start_drain() {
    if (draining.exchange(true)) return;
    service->begin_drain();
    drain_start = monotonic_seconds();
    poll_drain();
  }

  // Done when every in-flight request has ended and its last bytes are written. At the drain
  // timeout the requests still running are ended with an error (streams get an error event and
  // [DONE]) and get a moment to flush before the server stops.
  void poll_drain() {
    drain_timer.expires_after(std::chrono::milliseconds(20));
    drain_timer.async_wait([this](beast::error_code ec) {
      if (ec) return;
      const double waited = monotonic_seconds() - drain_start;
      const double timeout = service->config().drain_timeout_s;
      if (service->num_in_flight() == 0 && counters.pending_responses.load() == 0) {
        KILN_LOG(Info) << "Drained; shutting down";
        ioc.stop();
        return;
      }
      if (waited >= timeout && !drain_cancelled) {
        drain_cancelled = true;
        KILN_LOG(Warning) << "Drain timeout (" << timeout << " s) with " << service->num_in_flight()
                          << " requests in flight; ending them with an error";
        char text[96];
        std::snprintf(text, sizeof text, "The server is shutting down: the drain timeout of %g s passed", timeout);
        service->cancel_in_flight(text);
      } else if (waited >= timeout + kFlushGraceS) {
        KILN_LOG(Warning) << "Shutting down with " << counters.pending_responses.load() << " responses unfinished";
        ioc.stop();
        return;
      }
      poll_drain();
    });
  }

  // The server stopped with requests still running (a second signal, the drain's flush grace
  // passed, stop()): each ends with an error (a stream gets its error event and [DONE] where the
  // socket takes them) so that its connection lets go of the request's state. The two hold each
  // other until the response ends; left alone they would outlive the server (LeakSanitizer
  // reported them). poll() runs only what is ready: stopping stays immediate.
  void end_abandoned_requests() {
    if (service->num_in_flight() == 0) return;
    beast::error_code ec;
    acceptor.close(ec);
    if (signals) signals->cancel(ec);
    accept_retry_timer.cancel();
    drain_timer.cancel();
    ioc.restart();
    service->cancel_in_flight("The server stopped before the request finished");
    ioc.poll();
  }

  // Runs handlers; an exception that escapes one (a library throwing where it was not expected)
  // destroys that handler's connection and is logged, and the thread goes on serving.
  void run_thread() {
    for (;;) {
      try {
        ioc.run();
        return;
      } catch (const std::exception& e) {
        KILN_LOG(Error) << "HTTP: a connection was closed after an unexpected error: " << e.what();
      } catch (...) {
        KILN_LOG(Error) << "HTTP: a connection was closed after an unexpected error";
      }
    }
  }

  static constexpr double kFlushGraceS = 2;

  OpenAiService* service;
  // Before ioc: sessions still queued in it when it is destroyed update these on their way out.
  // Shared with the /metrics hook, which may outlive the server.
  std::shared_ptr<ConnectionCounters> counters_owner = std::make_shared<ConnectionCounters>();
  ConnectionCounters& counters = *counters_owner;
  net::io_context ioc;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry_timer;
  net::steady_timer drain_timer;
  std::optional<net::signal_set> signals;
  int accept_backoff_ms = 0;
  int64_t accept_failures = 0;
  double last_accept_log = -1e9;
  std::atomic<bool> draining{false};
  bool drain_cancelled = false;  // touched only by the drain timer's handlers
  double drain_start = 0;
};

HttpServer::HttpServer(OpenAiService* service) : impl_(std::make_unique<Impl>(service)) {
  // A connection leaked (never released after closing) stays counted here: the hostile e2e
  // suite reads it.
  metrics::Registry& registry = service->registry();
  registry.add_gauge("kiln:http_open_connections", "HTTP connections accepted and not yet released.", {});
  registry.add_collect_hook([&registry, counters = impl_->counters_owner] {
    registry.gauge("kiln:http_open_connections", {})->set(counters->open_connections.load());
  });
}

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
  if (handle_signals) {
    impl_->signals.emplace(impl_->ioc, SIGINT, SIGTERM);
    impl_->wait_for_signal();
  }
  impl_->accept();
  std::vector<std::thread> threads;
  for (int i = 1; i < impl_->service->config().num_threads; ++i) {
    threads.emplace_back([this] { impl_->run_thread(); });
  }
  impl_->run_thread();
  for (std::thread& thread : threads) thread.join();
  impl_->end_abandoned_requests();
}

void HttpServer::drain() {
  net::post(impl_->ioc, [this] { impl_->start_drain(); });
}

int HttpServer::num_open_connections() const { return impl_->counters.open_connections.load(); }

void HttpServer::stop() { impl_->ioc.stop(); }

}  // namespace kiln::server
