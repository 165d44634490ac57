// POST /v1/chat/completions and POST /v1/completions: parse and validate, render and tokenize
// (on the HTTP thread, never the engine's), submit to the engine, and answer with one JSON body
// or an SSE stream as outputs arrive. A client that goes away aborts its engine requests at once.
#pragma once

#include <functional>
#include <memory>
#include <span>

#include "api/prompt_codec.h"
#include "api/serving_config.h"
#include "engine/engine_client.h"
#include "grammar/grammar_compiler.h"
#include "metrics/vllm_metrics.h"
#include "server/http_types.h"
#include "server/in_flight_registry.h"
#include "server/dashboard_stats.h"
#include "tracing/tracer.h"

namespace kiln::server {

struct GenerationDeps {
  EngineClient* engine = nullptr;
  const api::TextCodec* codec = nullptr;
  const api::PromptRenderer* renderer = nullptr;
  const api::ServingConfig* serving = nullptr;
  metrics::VllmMetrics* metrics = nullptr;
  // Called exactly once when the request's response has ended (drain accounting).
  std::function<void()> on_finished;
  // Called once per engine request when it finishes, is aborted (client gone) or fails, with
  // the gaps between its token outputs in ms: GET /v1/stats' latencies and recent requests.
  std::function<void(const RecentRequest&, std::span<const double> itl_ms)> on_request_done;
  // Where the request registers while it runs, so that the drain timeout can end it (optional).
  InFlightRegistry* in_flight = nullptr;
  // --otlp-traces-endpoint: one span per engine request (optional).
  tracing::Tracer* tracer = nullptr;
  // Compiles output constraints (structured outputs, forced tool calls) off the HTTP and engine
  // threads; null: requests with a constraint get a 400.
  grammar::GrammarCompiler* grammars = nullptr;
};

void handle_chat_completion(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer,
                            GenerationDeps deps);
void handle_completion(const HttpRequest& request, std::shared_ptr<ResponseWriter> writer,
                       GenerationDeps deps);

// A JSON error response with vLLM's body.
HttpResponse error_response(const api::ApiError& error);
HttpResponse json_response(int status, const api::Json& body);

}  // namespace kiln::server
