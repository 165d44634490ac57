#include "server/openai_service.h"

#include <algorithm>
#include <chrono>

#include "api/openai_request.h"
#include "api/request_id.h"
#include "api/request_preparation.h"
#include "base/clock.h"
#include "metrics/process_metrics.h"
#include "server/generation_handler.h"
#include "web/embedded_file.h"

namespace kiln::server {
namespace {

bool starts_with(const std::string& text, const char* prefix) { return text.rfind(prefix, 0) == 0; }

// Equal-time comparison, so that the key cannot be guessed byte by byte from response times.
bool constant_time_equal(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned char>(a[i] ^ b[i % std::max<size_t>(b.size(), 1)]);
  return diff == 0;
}

struct Route {
  const char* path;
  const char* method;
};

constexpr Route kRoutes[] = {
    {"/v1/chat/completions", "POST"}, {"/v1/completions", "POST"}, {"/v1/models", "GET"},
    {"/health", "GET"},               {"/metrics", "GET"},         {"/tokenize", "POST"},
    {"/detokenize", "POST"},          {"/version", "GET"},         {"/v1/stats", "GET"},
};

}  // namespace

OpenAiService::OpenAiService(ServerConfig config, api::ServingConfig serving)
    : config_(std::move(config)),
      serving_(std::move(serving)),
      started_(monotonic_seconds()),
      created_(unix_seconds()) {
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

bool OpenAiService::authorized(const HttpRequest& request) const {
  if (!config_.api_key) return true;
  const std::string header = request.header("authorization");
  if (!starts_with(header, "Bearer ")) return false;
  return constant_time_equal(header.substr(7), *config_.api_key);
}

bool OpenAiService::origin_allowed(const std::string& origin) const {
  for (const std::string& allowed : config_.allowed_origins) {
    if (allowed == "*" || allowed == origin) return true;
  }
  return false;
}

Headers OpenAiService::cors_headers(const std::string& origin) const {
  if (origin.empty() || !origin_allowed(origin)) return {};
  const bool any = std::find(config_.allowed_origins.begin(), config_.allowed_origins.end(), "*") !=
                   config_.allowed_origins.end();
  Headers headers = {{"access-control-allow-origin", any ? "*" : origin}};
  if (!any) headers.emplace_back("vary", "Origin");
  return headers;
}

void OpenAiService::handle(HttpRequest request, std::shared_ptr<ResponseWriter> writer) {
  const std::string path = request.path();
  const std::string origin = request.header("origin");

  // CORS preflight, as Starlette's CORSMiddleware answers it (before auth: browsers send no
  // credentials on preflight).
  if (request.method == "OPTIONS" && !origin.empty() &&
      !request.header("access-control-request-method").empty()) {
    HttpResponse response{200, "text/plain; charset=utf-8", "OK", {}};
    if (!origin_allowed(origin)) {
      response.status = 400;
      response.body = "Disallowed CORS origin";
    } else {
      response.headers = cors_headers(origin);
      response.headers.emplace_back("access-control-allow-methods",
                                    "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT");
      response.headers.emplace_back("access-control-max-age", "600");
      const std::string asked = request.header("access-control-request-headers");
      if (!asked.empty()) response.headers.emplace_back("access-control-allow-headers", asked);
    }
    writer->send(std::move(response));
    return;
  }

  // Every response below carries the CORS headers; a wrapper adds them.
  class CorsWriter : public ResponseWriter {
   public:
    CorsWriter(std::shared_ptr<ResponseWriter> inner, Headers cors) : inner_(std::move(inner)), cors_(std::move(cors)) {}
    void send(HttpResponse response) override {
      response.headers.insert(response.headers.end(), cors_.begin(), cors_.end());
      inner_->send(std::move(response));
    }
    void start_stream(int status, Headers headers) override {
      headers.insert(headers.end(), cors_.begin(), cors_.end());
      inner_->start_stream(status, std::move(headers));
    }
    void write_stream(std::string data) override { inner_->write_stream(std::move(data)); }
    void end_stream() override { inner_->end_stream(); }
    void post(std::function<void()> task) override { inner_->post(std::move(task)); }
    void on_disconnect(std::function<void()> handler) override { inner_->on_disconnect(std::move(handler)); }
    void set_token_counts(int p, int c) override { inner_->set_token_counts(p, c); }

   private:
    std::shared_ptr<ResponseWriter> inner_;
    Headers cors_;
  };
  Headers cors = cors_headers(origin);
  if (!cors.empty()) writer = std::make_shared<CorsWriter>(std::move(writer), std::move(cors));

  const Route* route = nullptr;
  bool path_known = false;
  for (const Route& r : kRoutes) {
    if (path == r.path) {
      path_known = true;
      if (request.method == r.method || (request.method == "HEAD" && std::string(r.method) == "GET")) route = &r;
    }
  }
  if (!path_known && (request.method == "GET" || request.method == "HEAD")) {
    // The chat UI at /, the dashboard at /dashboard, their assets: open, like /health.
    if (const auto file = web::find_embedded_file(path)) {
      const bool fresh = request.header("if-none-match") == file->etag;
      HttpResponse response{fresh ? 304 : 200, std::string(file->content_type),
                            fresh ? std::string() : std::string(file->content), {}};
      response.headers.emplace_back("etag", std::string(file->etag));
      response.headers.emplace_back("cache-control",
                                    file->immutable ? "public, max-age=31536000, immutable" : "no-cache");
      writer->send(std::move(response));
      return;
    }
  }
  if (!path_known) {
    writer->send(error_response(api::ApiError{404, "Not Found", std::nullopt}));
    return;
  }
  if (!route) {
    for (const Route& r : kRoutes) {
      if (path == r.path) {
        HttpResponse response = error_response(api::ApiError{405, "Method Not Allowed", std::nullopt});
        response.headers.emplace_back("allow", r.method);
        writer->send(std::move(response));
        return;
      }
    }
  }
  const bool needs_auth = starts_with(path, "/v1/") || path == "/tokenize" || path == "/detokenize";
  if (needs_auth && !authorized(request)) {
    HttpResponse response = error_response(api::ApiError{401, "Unauthorized", std::nullopt});
    response.headers.emplace_back("www-authenticate", "Bearer");
    writer->send(std::move(response));
    return;
  }
  const ServerPhase phase = phase_.load();
  if (path == "/health") {
    writer->send(phase == ServerPhase::kReady ? HttpResponse{200, "application/json", "", {}}
                                              : error_response(api::ApiError{
                                                    503,
                                                    phase == ServerPhase::kLoading ? "The model is loading"
                                                                                   : "The server is shutting down",
                                                    std::nullopt}));
    return;
  }
  if (path == "/metrics") {
    writer->send(HttpResponse{200, metrics::kPrometheusContentType, registry_.expose(), {}});
    return;
  }
  if (path == "/version") {
    api::Json body;
    body["version"] = config_.version;
    writer->send(json_response(200, body));
    return;
  }
  if (phase != ServerPhase::kReady) {
    writer->send(error_response(api::ApiError{
        503, phase == ServerPhase::kLoading ? "The model is loading; try again shortly" : "The server is shutting down",
        std::nullopt}));
    return;
  }
  if (path == "/v1/chat/completions" || path == "/v1/completions") {
    in_flight_.fetch_add(1);
    GenerationDeps deps{backend_.engine, backend_.codec, backend_.renderer, &serving_, metrics_.get(),
                        [this] { in_flight_.fetch_sub(1); },
                        [this](const web::RecentRequest& r, std::span<const double> itl) { record_request(r, itl); },
                        &in_flight_requests_};
    if (path == "/v1/chat/completions") handle_chat_completion(request, std::move(writer), std::move(deps));
    else handle_completion(request, std::move(writer), std::move(deps));
    return;
  }
  writer->send(handle_simple(request, path));
}

HttpResponse OpenAiService::handle_simple(const HttpRequest& request, const std::string& path) {
  if (path == "/v1/models") return models_response();
  if (path == "/v1/stats") return stats_response();
  if (path == "/tokenize") return tokenize(request);
  return detokenize(request);
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

void OpenAiService::record_request(const web::RecentRequest& request, std::span<const double> itl_ms) {
  request_window_.record(request, itl_ms);
  requests_finished_.fetch_add(1);
}

HttpResponse OpenAiService::stats_response() const {
  web::DashboardStats s;
  s.time = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
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
  s.gauges.num_requests_running = engine.num_running;
  s.gauges.num_requests_waiting = engine.num_waiting;
  s.gauges.kv_cache_usage = engine.kv_cache_usage;
  s.latency = request_window_.latency(s.time);
  s.recent_requests = request_window_.recent(50);
  HttpResponse response{200, "application/json", web::dashboard_stats_json(s), {}};
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
