#include "server/openai_service.h"

#include <algorithm>
#include <optional>

#include "api/openai_request.h"
#include "api/request_id.h"
#include "api/request_preparation.h"
#include "base/clock.h"
#include "metrics/process_metrics.h"
#include "server/generation_handler.h"
#include "server/static_files.h"

namespace kiln::server {
OpenAiService::OpenAiService(ServerConfig config, api::ServingConfig serving)
    : config_(std::move(config)),
      serving_(std::move(serving)),
      started_(monotonic_seconds()),
      created_(unix_seconds()),
      cors_(config_.allowed_origins),
      auth_(config_.api_key),
      routes_(make_routes()) {
  metrics_ = std::make_unique<metrics::VllmMetrics>(&registry_, serving_.served_model_name,
                                                    std::max(serving_.max_model_len, 1));
  metrics::register_process_metrics(&registry_);
  registry_.add_collect_hook([this] {
    if (phase_.load() == ServerPhase::kLoading || !backend_.engine) return;
    const EngineStats stats = backend_.engine->stats();
    metrics::SchedulerSnapshot snapshot;
    snapshot.num_running = stats.num_running;
    snapshot.num_waiting = stats.num_waiting;
    snapshot.kv_cache_usage = stats.kv_cache_usage;
    snapshot.prompt_tokens_total = stats.prompt_tokens_total;
    snapshot.generation_tokens_total = stats.generation_tokens_total;
    snapshot.num_preemptions_total = stats.num_preemptions_total;
    snapshot.prefix_cache_queries_total = stats.prefix_cache_queries_tokens_total;
    snapshot.prefix_cache_hits_total = stats.prefix_cache_hits_tokens_total;
    snapshot.spec_decode_num_drafts = stats.spec_decode_num_drafts;
    snapshot.spec_decode_num_draft_tokens = stats.spec_decode_num_draft_tokens;
    snapshot.spec_decode_num_accepted_tokens = stats.spec_decode_num_accepted_tokens;
    snapshot.spec_decode_num_accepted_tokens_per_pos = stats.spec_decode_num_accepted_tokens_per_pos;
    metrics_->update_scheduler(snapshot);
  });
}

void OpenAiService::set_ready(ServingBackend backend, const metrics::CacheConfigInfo& cache,
                              DashboardInfo dashboard) {
  backend_ = backend;
  dashboard_ = std::move(dashboard);
  metrics_->set_cache_config(cache);
  ServerPhase expected = ServerPhase::kLoading;
  phase_.compare_exchange_strong(expected, ServerPhase::kReady);
}

void OpenAiService::begin_drain() { phase_.store(ServerPhase::kDraining); }

RouteTable OpenAiService::make_routes() {
  // A handler that answers with one whole response.
  auto whole = [](std::function<HttpResponse(const HttpRequest&)> respond) -> RouteHandler {
    return [respond = std::move(respond)](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
      writer->send(respond(request));
    };
  };
  return RouteTable({
      // method, path, needs_auth, needs_ready, handler
      {"POST", "/v1/chat/completions", true, true,
       [this](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
         generate(std::move(request), std::move(writer), /*chat=*/true);
       }},
      {"POST", "/v1/completions", true, true,
       [this](HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
         generate(std::move(request), std::move(writer), /*chat=*/false);
       }},
      {"GET", "/v1/models", true, true, whole([this](const HttpRequest&) { return models_response(); })},
      {"GET", "/v1/stats", true, true, whole([this](const HttpRequest&) { return stats_response(); })},
      {"POST", "/tokenize", true, true, whole([this](const HttpRequest& r) { return tokenize(r); })},
      {"POST", "/detokenize", true, true, whole([this](const HttpRequest& r) { return detokenize(r); })},
      // Probes and scrapers: open, and answering while the model loads.
      {"GET", "/health", false, false, whole([this](const HttpRequest&) { return health_response(); })},
      {"GET", "/metrics", false, false,
       whole([this](const HttpRequest&) {
         return HttpResponse{200, metrics::kPrometheusContentType, registry_.expose(), {}};
       })},
      {"GET", "/version", false, false, whole([this](const HttpRequest&) { return version_response(); })},
  });
}

void OpenAiService::handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  if (std::optional<HttpResponse> preflight = cors_.preflight(request)) {
    writer->send(std::move(*preflight));
    return;
  }
  writer = cors_.wrap(request, std::move(writer));
  const RouteTable::Match match = routes_.match(request.method, request.path());
  if (!match.path_known) {
    std::optional<HttpResponse> file = static_file_response(request);
    writer->send(file ? std::move(*file) : error_response(api::ApiError{404, "Not Found", std::nullopt}));
    return;
  }
  if (!match.route) {
    HttpResponse response = error_response(api::ApiError{405, "Method Not Allowed", std::nullopt});
    response.headers.emplace_back("allow", match.allow);
    writer->send(std::move(response));
    return;
  }
  const Route& route = *match.route;
  if (route.needs_auth && !auth_.allows(request)) {
    writer->send(BearerAuth::unauthorized());
    return;
  }
  if (const ServerPhase phase = phase_.load(); route.needs_ready && phase != ServerPhase::kReady) {
    writer->send(error_response(api::ApiError{
        503, phase == ServerPhase::kLoading ? "The model is loading; try again shortly" : "The server is shutting down",
        std::nullopt}));
    return;
  }
  route.handler(std::move(request), std::move(writer));
}

void OpenAiService::generate(HttpRequest request, std::shared_ptr<ResponseWriter> writer, bool chat) {
  in_flight_.fetch_add(1);
  GenerationDeps deps{backend_.engine, backend_.codec, backend_.renderer, &serving_, metrics_.get(),
                      [this] { in_flight_.fetch_sub(1); },
                      [this](const RecentRequest& r, std::span<const double> itl) { record_request(r, itl); },
                      &in_flight_requests_, tracer_, backend_.grammars};
  if (chat) handle_chat_completion(request, std::move(writer), std::move(deps));
  else handle_completion(request, std::move(writer), std::move(deps));
}

HttpResponse OpenAiService::health_response() const {
  const ServerPhase phase = phase_.load();
  if (phase == ServerPhase::kReady) return HttpResponse{200, "application/json", "", {}};
  return error_response(api::ApiError{
      503, phase == ServerPhase::kLoading ? "The model is loading" : "The server is shutting down", std::nullopt});
}

HttpResponse OpenAiService::version_response() const {
  api::Json body;
  body["version"] = config_.version;
  return json_response(200, body);
}

HttpResponse OpenAiService::models_response() const {
  api::Json permission;
  permission["id"] = "modelperm-" + api::random_uuid4();
  permission["object"] = "model_permission";
  permission["created"] = created_;
  permission["allow_create_engine"] = false;
  permission["allow_sampling"] = true;
  permission["allow_logprobs"] = true;
  permission["allow_search_indices"] = false;
  permission["allow_view"] = true;
  permission["allow_fine_tuning"] = false;
  permission["organization"] = "*";
  permission["group"] = nullptr;
  permission["is_blocking"] = false;
  api::Json model;
  model["id"] = serving_.served_model_name;
  model["object"] = "model";
  model["created"] = created_;
  model["owned_by"] = "vllm";
  model["root"] = serving_.model_root.empty() ? serving_.served_model_name : serving_.model_root;
  model["parent"] = nullptr;
  model["max_model_len"] = serving_.max_model_len;
  model["permission"] = api::Json::array({permission});
  api::Json body;
  body["object"] = "list";
  body["data"] = api::Json::array({model});
  return json_response(200, body);
}

void OpenAiService::record_request(const RecentRequest& request, std::span<const double> itl_ms) {
  request_window_.record(request, itl_ms);
  requests_finished_.fetch_add(1);
}

HttpResponse OpenAiService::stats_response() const {
  DashboardStats s;
  s.time = unix_time_seconds();
  s.uptime_s = monotonic_seconds() - started_;
  s.version = config_.version;
  s.model = dashboard_.model.empty() ? serving_.model_root : dashboard_.model;
  s.served_model_name = serving_.served_model_name;
  s.config = dashboard_.config;
  s.config.emplace_back("api_key_required", config_.api_key.has_value());
  s.memory_plan = dashboard_.memory_plan;
  s.device = dashboard_.device;
  // The same engine snapshot /metrics is built from, so the two never disagree.
  const EngineStats engine = backend_.engine->stats();
  s.counters.prompt_tokens_total = engine.prompt_tokens_total;
  s.counters.generation_tokens_total = engine.generation_tokens_total;
  s.counters.requests_finished_total = requests_finished_.load();
  s.counters.num_preemptions_total = engine.num_preemptions_total;
  s.counters.prefix_cache_queries_total = engine.prefix_cache_queries_tokens_total;
  s.counters.prefix_cache_hits_total = engine.prefix_cache_hits_tokens_total;
  s.counters.spec_decode_num_drafts_total = engine.spec_decode_num_drafts;
  s.counters.spec_decode_num_draft_tokens_total = engine.spec_decode_num_draft_tokens;
  s.counters.spec_decode_num_accepted_tokens_total = engine.spec_decode_num_accepted_tokens;
  s.gauges.num_requests_running = engine.num_running;
  s.gauges.num_requests_waiting = engine.num_waiting;
  s.gauges.kv_cache_usage = engine.kv_cache_usage;
  s.latency = request_window_.latency(s.time);
  s.recent_requests = request_window_.recent(50);
  HttpResponse response{200, "application/json", dashboard_stats_json(s), {}};
  response.headers.emplace_back("cache-control", "no-store");
  return response;
}

HttpResponse OpenAiService::tokenize(const HttpRequest& request) const {
  auto parsed = api::parse_json_object(request.body);
  if (!parsed.ok()) return error_response(parsed.error());
  api::FieldReader reader(parsed.value());
  auto model = reader.string("model");
  if (model) {
    if (auto error = api::check_model_name(*model, serving_.served_model_name)) return error_response(*error);
  }
  std::vector<int32_t> ids;
  if (reader.has("messages")) {
    auto chat = api::parse_chat_request(request.body, serving_.limits);
    if (!chat.ok()) return error_response(chat.error());
    auto prompt = api::prepare_chat_prompt(chat.value(), *backend_.renderer, *backend_.codec);
    if (!prompt.ok()) return error_response(prompt.error());
    ids = std::move(prompt.value().token_ids);
  } else {
    auto prompt = reader.string("prompt");
    const bool add_special = reader.boolean("add_special_tokens").value_or(true);
    if (!reader.ok()) return error_response(*reader.error());
    if (!prompt) return error_response(api::bad_request("'prompt' or 'messages' is required", "prompt"));
    Result<std::vector<int32_t>> encoded = backend_.codec->encode(*prompt, add_special);
    if (!encoded.ok()) return error_response(api::bad_request(encoded.message(), "prompt"));
    ids = std::move(*encoded);
  }
  const bool return_strs = reader.boolean("return_token_strs").value_or(false);
  if (!reader.ok()) return error_response(*reader.error());
  api::Json body;
  body["count"] = ids.size();
  body["max_model_len"] = serving_.max_model_len;
  body["tokens"] = ids;
  if (return_strs) {
    api::Json strs = api::Json::array();
    for (int32_t id : ids) strs.push_back(backend_.codec->token_text(id));
    body["token_strs"] = std::move(strs);
  } else {
    body["token_strs"] = nullptr;
  }
  return json_response(200, body);
}

HttpResponse OpenAiService::detokenize(const HttpRequest& request) const {
  auto parsed = api::parse_json_object(request.body);
  if (!parsed.ok()) return error_response(parsed.error());
  api::FieldReader reader(parsed.value());
  if (auto model = reader.string("model")) {
    if (auto error = api::check_model_name(*model, serving_.served_model_name)) return error_response(*error);
  }
  auto ids = reader.int_list("tokens", 0, backend_.codec->vocab_size() - 1);
  if (!reader.ok()) return error_response(*reader.error());
  if (!ids) return error_response(api::bad_request("'tokens' is required", "tokens"));
  api::Json body;
  body["prompt"] = backend_.codec->decode(*ids, false);
  return json_response(200, body);
}

}  // namespace kiln::server
