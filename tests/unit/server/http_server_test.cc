// The server over a real socket with a fake engine, spoken to by a Beast client: routes, auth,
// CORS, 404/405/413, SSE framing, keep-alive, disconnect -> abort, and graceful drain.
#include <utility>  // before Asio (Boost 1.74 with GCC 12 in C++20)

#include <gtest/gtest.h>

#include <thread>

#include "server_fixture.h"

namespace kiln::server {
namespace {


TEST_F(ServerTest, HealthIs503WhileLoadingThen200) {
  start({}, false);
  EXPECT_EQ(request("GET", "/health").status, 503);
  EXPECT_EQ(request("POST", "/v1/chat/completions", kChat).status, 503);
  make_ready();
  Reply health = request("GET", "/health");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "");
}

TEST_F(ServerTest, ModelsVersionMetrics) {
  start();
  Reply models = request("GET", "/v1/models");
  ASSERT_EQ(models.status, 200);
  EXPECT_EQ(models.json()["object"], "list");
  EXPECT_EQ(models.json()["data"][0]["id"], "tiny");
  EXPECT_EQ(models.json()["data"][0]["max_model_len"], 200);
  EXPECT_EQ(request("GET", "/version").json()["version"], "0.1.0");
  Reply metrics = request("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_EQ(metrics.header("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(metrics.body.find("vllm:num_requests_running{model_name=\"tiny\",engine=\"0\"} 0.0"), std::string::npos);
  EXPECT_NE(metrics.body.find("process_resident_memory_bytes"), std::string::npos);
}

TEST_F(ServerTest, NotFoundAndMethodNotAllowed) {
  start();
  Reply missing = request("GET", "/v2/nothing");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.json()["error"]["code"], 404);
  Reply wrong = request("GET", "/v1/chat/completions");
  EXPECT_EQ(wrong.status, 405);
  EXPECT_EQ(wrong.header("allow"), "POST");
  EXPECT_EQ(request("DELETE", "/health").status, 405);
}

TEST_F(ServerTest, ServesTheWebUiWithEtags) {
  ServerConfig config;
  config.api_key = "sekret";  // the page is open; its API calls carry the key
  start(config);
  Reply page = request("GET", "/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.header("Content-Type"), "text/html; charset=utf-8");
  EXPECT_FALSE(page.body.empty());
  const std::string etag = page.header("etag");
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(request("GET", "/", "", {{"If-None-Match", etag}}).status, 304);
  EXPECT_EQ(request("GET", "/dashboard").status, 200);
  EXPECT_EQ(request("GET", "/../etc/passwd").status, 404);
}

TEST_F(ServerTest, BearerAuthOnV1AndTokenize) {
  ServerConfig config;
  config.api_key = "sekret";
  start(config);
  Reply none = request("POST", "/v1/chat/completions", kChat);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(none.json()["error"]["type"], "AuthenticationError");
  EXPECT_EQ(request("GET", "/v1/models", "", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(request("GET", "/v1/models", "", {{"Authorization", "Bearer sekret"}}).status, 200);
  EXPECT_EQ(request("POST", "/tokenize", R"({"prompt":"x"})").status, 401);
  EXPECT_EQ(request("GET", "/health").status, 200);
  EXPECT_EQ(request("GET", "/metrics").status, 200);
}

TEST_F(ServerTest, CorsPreflightAndSimpleRequests) {
  ServerConfig config;
  config.allowed_origins = {"http://ui.example"};
  start(config);
  Reply preflight = request("OPTIONS", "/v1/chat/completions", "",
                            {{"Origin", "http://ui.example"},
                             {"Access-Control-Request-Method", "POST"},
                             {"Access-Control-Request-Headers", "authorization,content-type"}});
  EXPECT_EQ(preflight.status, 200);
  EXPECT_EQ(preflight.header("access-control-allow-origin"), "http://ui.example");
  EXPECT_EQ(preflight.header("access-control-allow-headers"), "authorization,content-type");
  EXPECT_NE(preflight.header("access-control-allow-methods").find("POST"), std::string::npos);
  Reply denied = request("OPTIONS", "/v1/models", "",
                         {{"Origin", "http://evil.example"}, {"Access-Control-Request-Method", "GET"}});
  EXPECT_EQ(denied.status, 400);
  Reply simple = request("GET", "/v1/models", "", {{"Origin", "http://ui.example"}});
  EXPECT_EQ(simple.header("access-control-allow-origin"), "http://ui.example");
  EXPECT_EQ(request("GET", "/v1/models", "", {{"Origin", "http://evil.example"}}).header("access-control-allow-origin"), "");
}

TEST_F(ServerTest, OversizedBodyGets413) {
  ServerConfig config;
  config.max_request_bytes = 1000;
  start(config);
  Reply big = request("POST", "/v1/completions", R"({"prompt":")" + std::string(5000, 'x') + "\"}");
  EXPECT_EQ(big.status, 413);
  EXPECT_EQ(big.json()["error"]["code"], 413);
  EXPECT_EQ(request("GET", "/health").status, 200);  // still serving
}

TEST_F(ServerTest, ChatCompletionWholeResponse) {
  start();
  Reply reply = request("POST", "/v1/chat/completions", kChat);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const nlohmann::json body = reply.json();
  EXPECT_EQ(body["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(body["id"].get<std::string>().size(), 9u + 36u);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "tiny");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "abc");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(body["usage"]["completion_tokens"], 3);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 19);  // "<user>hi<assistant>", one token per byte
}

TEST_F(ServerTest, BadRequestsGet4xxAndTheServerKeepsServing) {
  start();
  for (const std::string& body : {std::string("{"), std::string("[]"), std::string(R"({"messages":[]})"),
                                  std::string(R"({"messages":[{"role":"user","content":"x"}],"n":0})")}) {
    Reply reply = request("POST", "/v1/chat/completions", body);
    EXPECT_EQ(reply.status, 400) << body;
    EXPECT_EQ(reply.json()["error"]["type"], "BadRequestError");
  }
  Reply unknown = request("POST", "/v1/chat/completions",
                          R"({"model":"gpt-4","messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(unknown.json()["error"]["message"], "The model `gpt-4` does not exist.");
  EXPECT_EQ(request("POST", "/v1/chat/completions", kChat).status, 200);
}

TEST_F(ServerTest, ChatStreamSseFraming) {
  start();
  Reply reply = request("POST", "/v1/chat/completions",
                        R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":2,"stream":true,)"
                        R"("stream_options":{"include_usage":true}})");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.header("Content-Type"), "text/event-stream; charset=utf-8");
  std::vector<std::string> events;
  size_t pos = 0;
  while (pos < reply.body.size()) {
    const size_t end = reply.body.find("\n\n", pos);
    ASSERT_NE(end, std::string::npos);
    events.push_back(reply.body.substr(pos, end - pos));
    pos = end + 2;
  }
  ASSERT_EQ(events.size(), 5u) << reply.body;  // role, a, b(+finish), usage, [DONE]
  for (const std::string& event : events) EXPECT_EQ(event.rfind("data: ", 0), 0u);
  const auto first = nlohmann::json::parse(events[0].substr(6));
  EXPECT_EQ(first["choices"][0]["delta"], nlohmann::json::parse(R"({"role":"assistant","content":""})"));
  EXPECT_EQ(nlohmann::json::parse(events[2].substr(6))["choices"][0]["finish_reason"], "length");
  const auto usage = nlohmann::json::parse(events[3].substr(6));
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"]["completion_tokens"], 2);
  EXPECT_EQ(events[4], "data: [DONE]");
}

TEST_F(ServerTest, CompletionsWithTokenIdPromptsAndEcho) {
  start();
  Reply reply = request("POST", "/v1/completions", R"({"prompt":[[104,105],[66]],"max_tokens":2,"echo":true})");
  ASSERT_EQ(reply.status, 200) << reply.body;
  const nlohmann::json body = reply.json();
  EXPECT_EQ(body["object"], "text_completion");
  EXPECT_EQ(body["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  ASSERT_EQ(body["choices"].size(), 2u);
  EXPECT_EQ(body["choices"][0]["text"], "hiab");
  EXPECT_EQ(body["choices"][1]["text"], "Bab");
  EXPECT_EQ(body["choices"][1]["index"], 1);
  EXPECT_EQ(body["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(body["usage"]["completion_tokens"], 4);
}

TEST_F(ServerTest, TokenizeAndDetokenize) {
  start();
  Reply tokens = request("POST", "/tokenize", R"({"prompt":"AB"})");
  ASSERT_EQ(tokens.status, 200) << tokens.body;
  EXPECT_EQ(tokens.json()["tokens"], nlohmann::json::parse("[256,65,66]"));
  EXPECT_EQ(tokens.json()["count"], 3);
  Reply text = request("POST", "/detokenize", R"({"tokens":[72,105]})");
  EXPECT_EQ(text.json()["prompt"], "Hi");
  EXPECT_EQ(request("POST", "/detokenize", R"({"tokens":[-1]})").status, 400);
}

TEST_F(ServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  start();
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)));
  for (int i = 0; i < 3; ++i) {
    http::request<http::string_body> req{http::verb::post, "/v1/completions", 11};
    req.set(http::field::host, "x");
    req.body() = R"({"prompt":"x","max_tokens":2,"stream":)" + std::string(i % 2 ? "true" : "false") + "}";
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200);
    EXPECT_TRUE(res.keep_alive());
  }
}

TEST_F(ServerTest, ClientDisconnectAbortsTheEngineRequest) {
  start();
  start_stream_then_disconnect();
  for (int i = 0; i < 200 && engine_.num_aborted() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(engine_.submitted().size(), 1u);
  EXPECT_TRUE(engine_.was_aborted(engine_.submitted()[0]));
}

double metric_value(const std::string& text, const std::string& series) {
  const size_t at = text.find(series + " ");
  if (at == std::string::npos) {
    ADD_FAILURE() << series << " not in /metrics";
    return -1;
  }
  return std::stod(text.substr(at + series.size() + 1));
}

// An engine-side failure after the stream began: the error as one SSE event, then [DONE]; it
// counts as finished_reason "error" (vLLM's FinishReason.ERROR), and the server keeps serving.
TEST_F(ServerTest, EngineErrorMidStreamIsAnSseErrorEventThenDone) {
  start();
  Reply reply = request("POST", "/v1/chat/completions",
                        R"({"messages":[{"role":"user","content":"ERR"}],"max_tokens":5,"stream":true})");
  ASSERT_EQ(reply.status, 200);
  const std::vector<std::string> events = sse_events(reply.body);
  ASSERT_EQ(events.size(), 5u) << reply.body;  // role, a, b, error, [DONE]
  EXPECT_EQ(nlohmann::json::parse(events[2].substr(6))["choices"][0]["delta"]["content"], "b");
  EXPECT_EQ(events[3], R"(data: {"error":{"message":"fake engine failure","type":"InternalServerError",)"
                       R"("param":null,"code":500}})");
  EXPECT_EQ(events[4], "data: [DONE]");
  const std::string l = "{model_name=\"tiny\",engine=\"0\"";
  std::string metrics = request("GET", "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "vllm:request_success_total" + l + ",finished_reason=\"error\"}"), 1);
  // Not streamed: the error is the response, with its status.
  reply = request("POST", "/v1/completions", R"({"prompt":"ERR","max_tokens":5})");
  EXPECT_EQ(reply.status, 500);
  EXPECT_EQ(reply.json()["error"]["message"], "fake engine failure");
  EXPECT_EQ(request("POST", "/v1/chat/completions", kChat).status, 200);
  metrics = request("GET", "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "vllm:request_success_total" + l + ",finished_reason=\"error\"}"), 2);
  EXPECT_EQ(metric_value(metrics, "vllm:request_success_total" + l + ",finished_reason=\"length\"}"), 1);
}

// vllm:request_queue_time_seconds gets the engine's queue time of every finished request; a
// request the client abandoned is recorded nowhere in the per-request metrics (as in vLLM).
TEST_F(ServerTest, QueueTimeObservedPerFinishedRequestAbortsNotCounted) {
  start();
  for (int i = 0; i < 3; ++i) ASSERT_EQ(request("POST", "/v1/chat/completions", kChat).status, 200);
  ASSERT_EQ(request("POST", "/v1/completions", R"({"prompt":["a","b"],"max_tokens":2})").status, 200);
  start_stream_then_disconnect();
  for (int i = 0; i < 200 && engine_.num_aborted() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(engine_.num_aborted(), 1u);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  const std::string l = "{model_name=\"tiny\",engine=\"0\"";
  const std::string metrics = request("GET", "/metrics").body;
  EXPECT_EQ(metric_value(metrics, "vllm:request_queue_time_seconds_count" + l + "}"), 5);  // 3 chat + 2 prompts
  EXPECT_DOUBLE_EQ(metric_value(metrics, "vllm:request_queue_time_seconds_sum" + l + "}"), 5 * testing::kFakeQueueTimeS);
  EXPECT_EQ(metric_value(metrics, "vllm:e2e_request_latency_seconds_count" + l + "}"), 5);
  EXPECT_EQ(metric_value(metrics, "vllm:request_success_total" + l + ",finished_reason=\"length\"}"), 5);
  EXPECT_EQ(metric_value(metrics, "vllm:request_success_total" + l + ",finished_reason=\"abort\"}"), 0);
}

TEST_F(ServerTest, DrainRefusesNewWorkAndFinishesInFlight) {
  ServerConfig config;
  config.drain_timeout_s = 10;
  start(config);
  std::thread held([&] {
    Reply reply = request("POST", "/v1/completions", R"({"prompt":"Hold","max_tokens":100})");
    EXPECT_EQ(reply.status, 200);
    EXPECT_EQ(reply.json()["choices"][0]["finish_reason"], "stop");
  });
  for (int i = 0; i < 200 && engine_.submitted().empty(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  server_->drain();
  for (int i = 0; i < 200 && service_->phase() != ServerPhase::kDraining; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(request("GET", "/health").status, 503);
  EXPECT_EQ(request("POST", "/v1/chat/completions", kChat).status, 503);
  EXPECT_EQ(service_->num_in_flight(), 1);
  engine_.release_held();
  held.join();
  thread_.join();  // run() returns once drained
  EXPECT_EQ(service_->num_in_flight(), 0);
}

TEST_F(ServerTest, StatsEndpointReportsDashboardInfoCountersAndFinishedRequests) {
  ServerConfig config;
  config.api_key = "sekret";
  start(config, false);
  DashboardInfo info;
  info.model = "/models/tiny";
  info.config = {{"max_model_len", StatValue(int64_t{200})}};
  info.memory_plan = {{"num_gpu_blocks", StatValue(int64_t{64})}};
  info.device = {{"kind", StatValue(std::string("cpu"))}};
  service_->set_ready(ServingBackend{&engine_, &codec_, &renderer_}, metrics::CacheConfigInfo{}, info);
  const std::vector<std::pair<std::string, std::string>> key = {{"Authorization", "Bearer sekret"}};
  EXPECT_EQ(request("GET", "/v1/stats").status, 401);
  Reply empty = request("GET", "/v1/stats", "", key);
  ASSERT_EQ(empty.status, 200);
  EXPECT_EQ(empty.header("Cache-Control"), "no-store");
  EXPECT_EQ(empty.json()["recent_requests"].size(), 0u);
  EXPECT_TRUE(empty.json()["latency"]["ttft_ms"]["p50"].is_null());

  ASSERT_EQ(request("POST", "/v1/chat/completions", kChat, key).status, 200);
  // A request the client gives up on shows up as an abort.
  {
    net::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port_)));
    const std::string body = R"({"prompt":"Hold","max_tokens":100,"stream":true})";
    const std::string head = "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             "Authorization: Bearer sekret\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\n\r\n";
    net::write(socket, net::buffer(head + body));
    char data[256];
    socket.read_some(net::buffer(data));
  }
  nlohmann::json stats;
  for (int i = 0; i < 1000; ++i) {  // up to 10 s: CI machines are slow under a parallel build
    stats = request("GET", "/v1/stats", "", key).json();
    // The server records the abort at the disconnect; the fake engine's token for the held
    // request may come a moment later.
    if (stats["counters"]["requests_finished_total"] == 2 &&
        stats["counters"]["generation_tokens_total"].get<int64_t>() > 3) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(stats["object"], "kiln.stats");
  EXPECT_EQ(stats["version"], "0.1.0");
  EXPECT_EQ(stats["model"], "/models/tiny");
  EXPECT_EQ(stats["served_model_name"], "tiny");
  EXPECT_EQ(stats["config"]["max_model_len"], 200);
  EXPECT_EQ(stats["config"]["api_key_required"], true);
  EXPECT_EQ(stats["memory_plan"]["num_gpu_blocks"], 64);
  EXPECT_EQ(stats["device"]["kind"], "cpu");
  EXPECT_GT(stats["counters"]["generation_tokens_total"].get<int64_t>(), 3);
  ASSERT_EQ(stats["counters"]["requests_finished_total"], 2);
  ASSERT_EQ(stats["recent_requests"].size(), 2u);
  const auto& aborted = stats["recent_requests"][0];  // newest first
  EXPECT_EQ(aborted["finish_reason"], "abort");
  EXPECT_EQ(aborted["id"].get<std::string>().rfind("cmpl-", 0), 0u);
  const auto& chat = stats["recent_requests"][1];
  EXPECT_EQ(chat["id"].get<std::string>().rfind("chatcmpl-", 0), 0u);
  EXPECT_EQ(chat["finish_reason"], "length");
  EXPECT_EQ(chat["completion_tokens"], 3);
  EXPECT_GT(chat["prompt_tokens"].get<int>(), 0);
  EXPECT_GE(chat["e2e_ms"].get<double>(), chat["ttft_ms"].get<double>());
  EXPECT_GT(chat["finished_at"].get<double>(), 1.7e9);
  EXPECT_FALSE(stats["latency"]["ttft_ms"]["p50"].is_null());
  EXPECT_FALSE(stats["latency"]["itl_ms"]["p99"].is_null());
  EXPECT_EQ(stats["latency"]["window_s"], 300);
}

}  // namespace
}  // namespace kiln::server
