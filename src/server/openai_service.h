// kiln's HTTP API, vLLM's routes: POST /v1/chat/completions, POST /v1/completions,
// GET /v1/models, GET /health, GET /metrics, POST /tokenize, POST /detokenize, GET /version;
// and kiln's GET /v1/stats for the dashboard (docs/dashboard-api.md). handle() answers CORS
// preflights (cors_policy.h), looks the request up in the route table (route_table.h: 404, 405),
// applies the row's Bearer auth (bearer_auth.h) and readiness (503 while loading or draining),
// and falls back to the embedded web UI (static_files.h). It also keeps the in-flight count that
// graceful drain waits on. No sockets here: see http_session.h.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <span>
#include <string>

#include "api/prompt_codec.h"
#include "api/serving_config.h"
#include "engine/engine_client.h"
#include "metrics/registry.h"
#include "metrics/vllm_metrics.h"
#include "server/bearer_auth.h"
#include "server/cors_policy.h"
#include "server/dashboard_stats.h"
#include "server/http_types.h"
#include "grammar/grammar_compiler.h"
#include "server/in_flight_registry.h"
#include "server/route_table.h"
#include "server/server_config.h"
#include "tracing/tracer.h"

namespace kiln::server {

struct ServingBackend {
  EngineClient* engine = nullptr;
  const api::TextCodec* codec = nullptr;
  const api::PromptRenderer* renderer = nullptr;
  grammar::GrammarCompiler* grammars = nullptr;  // output constraints (optional)
};

enum class ServerPhase { kLoading, kReady, kDraining };

// What GET /v1/stats reports besides the live counters, known once the model is loaded.
struct DashboardInfo {
  std::string model;  // what --model named (path or Hub id)
  StatTable config, memory_plan, device;
};

class OpenAiService {
 public:
  OpenAiService(ServerConfig config, api::ServingConfig serving);

  // The model is loaded: serve requests from now on. The backend must outlive the service.
  void set_ready(ServingBackend backend, const metrics::CacheConfigInfo& cache, DashboardInfo dashboard = {});
  // SIGTERM: /health and new requests get 503; in-flight requests continue.
  void begin_drain();
  ServerPhase phase() const { return phase_.load(); }
  int num_in_flight() const { return in_flight_.load(); }
  // Ends every generation request still running with a 503 `reason` (an SSE error event and
  // [DONE] for streams): the drain timeout passed.
  void cancel_in_flight(const std::string& reason) { in_flight_requests_.cancel_all(reason); }
  // --otlp-traces-endpoint: every generation request's span goes to `tracer` (which must outlive
  // the service). Call before set_ready.
  void set_tracer(tracing::Tracer* tracer) { tracer_ = tracer; }

  void handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer);

  metrics::Registry& registry() { return registry_; }
  const ServerConfig& config() const { return config_; }

 private:
  RouteTable make_routes();
  // The route handlers (the table's rows).
  void generate(HttpRequest request, std::shared_ptr<ResponseWriter> writer, bool chat);
  HttpResponse health_response() const;
  HttpResponse version_response() const;
  HttpResponse models_response() const;
  HttpResponse stats_response() const;
  HttpResponse tokenize(const HttpRequest& request) const;
  HttpResponse detokenize(const HttpRequest& request) const;
  void record_request(const RecentRequest& request, std::span<const double> itl_ms);

  ServerConfig config_;
  api::ServingConfig serving_;
  metrics::Registry registry_;
  std::unique_ptr<metrics::VllmMetrics> metrics_;
  ServingBackend backend_;  // set once before phase_ becomes kReady
  DashboardInfo dashboard_;  // likewise
  // Finished requests of the last 5 minutes (at most 1000) for /v1/stats' latencies and table.
  RequestStatsWindow request_window_{300, 1000, 200000};
  std::atomic<int64_t> requests_finished_{0};  // every reason, aborts and errors included
  double started_ = 0;                         // monotonic seconds, for uptime_s
  std::atomic<ServerPhase> phase_{ServerPhase::kLoading};
  std::atomic<int> in_flight_{0};
  InFlightRegistry in_flight_requests_;
  tracing::Tracer* tracer_ = nullptr;
  int64_t created_ = 0;
  CorsPolicy cors_;
  BearerAuth auth_;
  RouteTable routes_;  // last: its handlers use the members above
};

}  // namespace kiln::server
