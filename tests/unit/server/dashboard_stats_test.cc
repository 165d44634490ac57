#include "server/dashboard_stats.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

namespace kiln::server {
namespace {

using nlohmann::json;

RecentRequest request(const std::string& id, double ttft_ms, double e2e_ms, double finished_at) {
  return {id, 10, 20, 4, ttft_ms, e2e_ms, "stop", finished_at};
}

TEST(DashboardStatsJson, HasTheDocumentedShape) {
  DashboardStats s;
  s.time = 1000.5;
  s.uptime_s = 12;
  s.version = "0.1.0";
  s.model = "/models/r1";
  s.served_model_name = "r1";
  s.config = {{"max_model_len", int64_t{4096}}, {"enable_prefix_caching", true},
              {"gpu_memory_utilization", 0.9}, {"dtype", std::string("bfloat16")}};
  s.memory_plan = {{"kv_cache_bytes", int64_t{1} << 30}, {"num_gpu_blocks", int64_t{512}}};
  s.device = {{"kind", std::string("cpu")}};
  s.counters.prompt_tokens_total = 100;
  s.counters.generation_tokens_total = 200;
  s.gauges.num_requests_running = 3;
  s.gauges.kv_cache_usage = 0.25;
  s.latency.window_s = 300;
  s.latency.ttft_ms = {10.0, 20.0, 30.0};
  s.recent_requests = {request("chatcmpl-1", 5, 50, 999)};

  const json j = json::parse(dashboard_stats_json(s));
  EXPECT_EQ(j["object"], "kiln.stats");
  EXPECT_DOUBLE_EQ(j["time"].get<double>(), 1000.5);
  EXPECT_EQ(j["served_model_name"], "r1");
  EXPECT_EQ(j["config"]["max_model_len"], 4096);
  EXPECT_EQ(j["config"]["enable_prefix_caching"], true);
  EXPECT_EQ(j["config"]["dtype"], "bfloat16");
  EXPECT_EQ(j["memory_plan"]["kv_cache_bytes"], int64_t{1} << 30);
  EXPECT_EQ(j["counters"]["generation_tokens_total"], 200);
  EXPECT_EQ(j["counters"]["prefix_cache_hits_total"], 0);
  EXPECT_EQ(j["counters"]["spec_decode_num_draft_tokens_total"], 0);
  EXPECT_EQ(j["counters"]["spec_decode_num_accepted_tokens_total"], 0);
  EXPECT_EQ(j["gauges"]["num_requests_running"], 3);
  EXPECT_DOUBLE_EQ(j["gauges"]["kv_cache_usage"].get<double>(), 0.25);
  EXPECT_DOUBLE_EQ(j["latency"]["ttft_ms"]["p90"].get<double>(), 20.0);
  EXPECT_TRUE(j["latency"]["itl_ms"]["p50"].is_null());
  ASSERT_EQ(j["recent_requests"].size(), 1u);
  EXPECT_EQ(j["recent_requests"][0]["id"], "chatcmpl-1");
  EXPECT_EQ(j["recent_requests"][0]["cached_tokens"], 4);
  EXPECT_EQ(j["recent_requests"][0]["finish_reason"], "stop");
}

TEST(DashboardStatsJson, NonFiniteNumbersAndBadUtf8StillMakeValidJson) {
  DashboardStats s;
  s.time = std::numeric_limits<double>::quiet_NaN();
  s.gauges.kv_cache_usage = std::numeric_limits<double>::infinity();
  s.config = {{"x", std::numeric_limits<double>::quiet_NaN()}};
  s.served_model_name = "bad\xff name";
  const json j = json::parse(dashboard_stats_json(s));
  EXPECT_TRUE(j["time"].is_null());
  EXPECT_TRUE(j["gauges"]["kv_cache_usage"].is_null());
  EXPECT_TRUE(j["config"]["x"].is_null());
  EXPECT_NE(j["served_model_name"].get<std::string>().find("name"), std::string::npos);
}

TEST(ComputePercentiles, NearestRank) {
  std::vector<double> values;
  for (int i = 100; i >= 1; --i) values.push_back(i);
  const Percentiles p = compute_percentiles(values);
  EXPECT_EQ(p.p50, 50.0);
  EXPECT_EQ(p.p90, 90.0);
  EXPECT_EQ(p.p99, 99.0);
  std::vector<double> one = {7.0};
  EXPECT_EQ(compute_percentiles(one).p99, 7.0);
  std::vector<double> none;
  EXPECT_FALSE(compute_percentiles(none).p50.has_value());
  // NaN marks "no first token" (an abort before it): skipped, never sorted in.
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<double> with_nan = {nan, 3.0, nan, 1.0, 2.0};
  const Percentiles q = compute_percentiles(with_nan);
  EXPECT_EQ(q.p50, 2.0);
  EXPECT_EQ(q.p99, 3.0);
  std::vector<double> only_nan = {nan};
  EXPECT_FALSE(compute_percentiles(only_nan).p50.has_value());
}

TEST(RequestStatsWindow, PercentilesOnlyOverTheWindow) {
  RequestStatsWindow window(60, 100, 1000);
  const double itl_old[] = {500.0};
  window.record(request("old", 1000, 9000, 10), itl_old);  // outside (100 - 60, 100]
  const double itl_new[] = {5.0, 7.0, 9.0};
  window.record(request("a", 10, 100, 50), itl_new);
  window.record(request("b", 30, 300, 90), itl_new);
  const LatencySummary l = window.latency(100);
  EXPECT_EQ(l.window_s, 60);
  EXPECT_EQ(l.ttft_ms.p50, 10.0);
  EXPECT_EQ(l.ttft_ms.p99, 30.0);
  EXPECT_EQ(l.e2e_ms.p99, 300.0);
  EXPECT_EQ(l.itl_ms.p99, 9.0);
  EXPECT_FALSE(window.latency(1000).ttft_ms.p50.has_value());
}

TEST(RequestStatsWindow, RecentIsNewestFirstAndBounded) {
  RequestStatsWindow window(300, 3, 4);
  for (int i = 0; i < 5; ++i) {
    const double gaps[] = {1.0, 2.0};
    window.record(request("r" + std::to_string(i), 1, 2, 100 + i), gaps);
  }
  const auto recent = window.recent(10);
  ASSERT_EQ(recent.size(), 3u);
  EXPECT_EQ(recent[0].id, "r4");
  EXPECT_EQ(recent[2].id, "r2");
  EXPECT_EQ(window.recent(1).size(), 1u);
  EXPECT_EQ(window.latency(200).itl_ms.p99, 2.0);  // 4 samples kept: r3's and r4's
}

}  // namespace
}  // namespace kiln::server
