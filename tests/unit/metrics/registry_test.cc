#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <sstream>
#include <thread>

#include "metrics/process_metrics.h"
#include "metrics/vllm_metrics.h"

namespace kiln::metrics {
namespace {

// Parses exposition text back: sample line -> value; HELP/TYPE lines by metric name.
struct Parsed {
  std::map<std::string, double> samples;  // "name{labels}" -> value
  std::map<std::string, std::string> types;
  std::vector<std::string> sample_order;
};

Parsed parse(const std::string& text) {
  Parsed parsed;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream parts(line.substr(7));
      std::string name, type;
      parts >> name >> type;
      EXPECT_EQ(parsed.types.count(name), 0u) << "TYPE twice for " << name;
      parsed.types[name] = type;
      continue;
    }
    if (line.rfind("# HELP ", 0) == 0) continue;
    EXPECT_FALSE(line.empty());
    const size_t space = line.rfind(' ');
    EXPECT_NE(space, std::string::npos) << line;
    const std::string key = line.substr(0, space);
    const std::string value = line.substr(space + 1);
    parsed.samples[key] = value == "+Inf" ? INFINITY : std::stod(value);
    parsed.sample_order.push_back(key);
  }
  return parsed;
}

TEST(RegistryTest, FormatsNumbersAsPrometheusClient) {
  EXPECT_EQ(format_prometheus_value(0), "0.0");
  EXPECT_EQ(format_prometheus_value(1), "1.0");
  EXPECT_EQ(format_prometheus_value(0.001), "0.001");
  EXPECT_EQ(format_prometheus_value(2.5), "2.5");
  EXPECT_EQ(format_prometheus_value(2560), "2560.0");
  EXPECT_EQ(format_prometheus_value(123456.0), "123456.0");
  EXPECT_EQ(format_prometheus_value(1234567.0), "1.234567e+06");
  EXPECT_EQ(format_prometheus_value(1e20), "1e+20");
  EXPECT_EQ(format_prometheus_value(0.00001), "1e-05");
  EXPECT_EQ(format_prometheus_value(-3.5), "-3.5");
  EXPECT_EQ(format_prometheus_value(0.1), "0.1");
  EXPECT_EQ(format_prometheus_value(INFINITY), "+Inf");
  EXPECT_EQ(format_prometheus_value(NAN), "NaN");
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
}

TEST(RegistryTest, ExposesCountersGaugesHistograms) {
  Registry registry;
  registry.add_counter("x:requests", "Requests.", {"model_name"});
  registry.add_gauge("x:running", "Running\nnow.", {"model_name"});
  registry.add_histogram("x:latency_seconds", "Latency.", {"model_name"}, {0.1, 1.0});
  registry.counter("x:requests", {"m"})->inc(3);
  registry.counter("x:requests", {"m"})->inc(-1);  // ignored
  registry.gauge("x:running", {"m"})->set(2);
  Histogram* histogram = registry.histogram("x:latency_seconds", {"m"});
  for (double v : {0.05, 0.1, 0.5, 5.0}) histogram->observe(v);
  const std::string text = registry.expose();
  EXPECT_EQ(text,
            "# HELP x:requests_total Requests.\n"
            "# TYPE x:requests_total counter\n"
            "x:requests_total{model_name=\"m\"} 3.0\n"
            "# HELP x:running Running\\nnow.\n"
            "# TYPE x:running gauge\n"
            "x:running{model_name=\"m\"} 2.0\n"
            "# HELP x:latency_seconds Latency.\n"
            "# TYPE x:latency_seconds histogram\n"
            "x:latency_seconds_bucket{model_name=\"m\",le=\"0.1\"} 2.0\n"
            "x:latency_seconds_bucket{model_name=\"m\",le=\"1.0\"} 3.0\n"
            "x:latency_seconds_bucket{model_name=\"m\",le=\"+Inf\"} 4.0\n"
            "x:latency_seconds_count{model_name=\"m\"} 4.0\n"
            "x:latency_seconds_sum{model_name=\"m\"} 5.65\n");
}

TEST(RegistryTest, HistogramUnderConcurrentObservers) {
  Histogram histogram({1, 2, 3});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) histogram.observe(i % 4 + 0.5);
    });
  }
  for (auto& thread : threads) thread.join();
  const Histogram::Snapshot snap = histogram.snapshot();
  EXPECT_EQ(snap.cumulative, (std::vector<uint64_t>{10000, 20000, 30000, 40000}));
  EXPECT_EQ(snap.count, 40000u);
  EXPECT_DOUBLE_EQ(snap.sum, 4 * (2500 * (0.5 + 1.5 + 2.5 + 3.5)));
}

TEST(VllmMetricsTest, NamesTypesAndBuckets) {
  Registry registry;
  VllmMetrics metrics(&registry, "deepseek", 8192);
  register_process_metrics(&registry);
  metrics.set_cache_config(CacheConfigInfo{16, 2048, 0.9, true, "auto"});
  SchedulerSnapshot snapshot;
  snapshot.num_running = 3;
  snapshot.num_waiting = 1;
  snapshot.kv_cache_usage = 0.25;
  snapshot.prompt_tokens_total = 100;
  snapshot.generation_tokens_total = 40;
  snapshot.prefix_cache_queries_total = 100;
  snapshot.prefix_cache_hits_total = 32;
  metrics.update_scheduler(snapshot);
  snapshot.generation_tokens_total = 50;
  metrics.update_scheduler(snapshot);
  metrics.observe_time_to_first_token(0.03);
  metrics.observe_inter_token_latency(0.02);
  metrics.record_finished(FinishedRequest{"stop", 1.2, 0.0, 10, 20});

  const Parsed parsed = parse(registry.expose());
  const std::string l = "{model_name=\"deepseek\",engine=\"0\"}";
  EXPECT_EQ(parsed.samples.at("vllm:num_requests_running" + l), 3);
  EXPECT_EQ(parsed.samples.at("vllm:num_requests_waiting" + l), 1);
  EXPECT_EQ(parsed.samples.at("vllm:kv_cache_usage_perc" + l), 0.25);
  EXPECT_EQ(parsed.samples.at("vllm:gpu_cache_usage_perc" + l), 0.25);
  EXPECT_EQ(parsed.samples.at("vllm:prompt_tokens_total" + l), 100);
  EXPECT_EQ(parsed.samples.at("vllm:generation_tokens_total" + l), 50);
  EXPECT_EQ(parsed.samples.at("vllm:num_preemptions_total" + l), 0);
  EXPECT_EQ(parsed.samples.at("vllm:prefix_cache_queries_total" + l), 100);
  EXPECT_EQ(parsed.samples.at("vllm:prefix_cache_hits_total" + l), 32);
  EXPECT_EQ(parsed.samples.at("vllm:gpu_prefix_cache_queries_total" + l), 100);
  EXPECT_EQ(parsed.samples.at("vllm:gpu_prefix_cache_hits_total" + l), 32);
  EXPECT_EQ(parsed.samples.at("vllm:request_success_total{model_name=\"deepseek\",engine=\"0\",finished_reason=\"stop\"}"), 1);
  EXPECT_EQ(parsed.samples.at("vllm:request_success_total{model_name=\"deepseek\",engine=\"0\",finished_reason=\"length\"}"), 0);
  EXPECT_EQ(parsed.types.at("vllm:prompt_tokens_total"), "counter");
  EXPECT_EQ(parsed.types.at("vllm:num_requests_running"), "gauge");
  EXPECT_EQ(parsed.types.at("vllm:e2e_request_latency_seconds"), "histogram");
  for (const char* name : {"vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
                           "vllm:time_per_output_token_seconds", "vllm:e2e_request_latency_seconds",
                           "vllm:request_queue_time_seconds", "vllm:request_prompt_tokens",
                           "vllm:request_generation_tokens"}) {
    EXPECT_EQ(parsed.types.at(name), "histogram") << name;
    EXPECT_EQ(parsed.samples.count(std::string(name) + "_bucket{model_name=\"deepseek\",engine=\"0\",le=\"+Inf\"}"), 1u)
        << name;
  }
  const std::string ttft = "vllm:time_to_first_token_seconds_bucket{model_name=\"deepseek\",engine=\"0\",le=";
  EXPECT_EQ(parsed.samples.at(ttft + "\"0.02\"}"), 0);
  EXPECT_EQ(parsed.samples.at(ttft + "\"0.04\"}"), 1);
  EXPECT_EQ(parsed.samples.at(ttft + "\"2560.0\"}"), 1);
  EXPECT_EQ(parsed.samples.at("vllm:e2e_request_latency_seconds_bucket{model_name=\"deepseek\",engine=\"0\",le=\"7680.0\"}"), 1);
  // build_1_2_5_buckets(8192): 1, 2, 5, ..., 5000.
  EXPECT_EQ(parsed.samples.count("vllm:request_prompt_tokens_bucket{model_name=\"deepseek\",engine=\"0\",le=\"5000.0\"}"), 1u);
  EXPECT_EQ(parsed.samples.count("vllm:request_prompt_tokens_bucket{model_name=\"deepseek\",engine=\"0\",le=\"10000.0\"}"), 0u);
  EXPECT_EQ(parsed.samples.at("vllm:request_generation_tokens_bucket{model_name=\"deepseek\",engine=\"0\",le=\"10.0\"}"), 0);
  EXPECT_EQ(parsed.samples.at("vllm:request_generation_tokens_bucket{model_name=\"deepseek\",engine=\"0\",le=\"20.0\"}"), 1);
  EXPECT_EQ(parsed.samples.at("vllm:request_generation_tokens_sum{model_name=\"deepseek\",engine=\"0\"}"), 20);
  EXPECT_EQ(parsed.samples.at("vllm:cache_config_info{block_size=\"16\",cache_dtype=\"auto\",enable_prefix_caching=\"True\","
                              "gpu_memory_utilization=\"0.9\",num_gpu_blocks=\"2048\",engine=\"0\"}"),
            1);
  EXPECT_GT(parsed.samples.at("process_resident_memory_bytes"), 0);
  EXPECT_GT(parsed.samples.at("process_start_time_seconds"), 1.6e9);
  EXPECT_GE(parsed.samples.at("process_cpu_seconds_total"), 0);
  EXPECT_GT(parsed.samples.at("process_open_fds"), 0);
  EXPECT_EQ(parsed.types.at("process_cpu_seconds_total"), "counter");
}

TEST(VllmMetricsTest, HistogramBucketsAreCumulativeEverywhere) {
  Registry registry;
  VllmMetrics metrics(&registry, "m", 2048);
  for (int i = 0; i < 50; ++i) {
    metrics.observe_inter_token_latency(i * 0.013);
    metrics.observe_time_to_first_token(i * 0.11);
    metrics.record_finished(FinishedRequest{i % 2 ? "stop" : "length", i * 0.7, i * 0.01, i * 37, i * 11});
  }
  const std::string text = registry.expose();
  std::istringstream in(text);
  std::string previous_family;
  double previous = 0;
  for (std::string line; std::getline(in, line);) {
    const size_t bucket = line.find("_bucket{");
    if (bucket == std::string::npos) {
      previous_family.clear();
      continue;
    }
    const std::string family = line.substr(0, bucket);
    const double value = std::stod(line.substr(line.rfind(' ') + 1));
    if (family == previous_family) {
      EXPECT_GE(value, previous) << line;
    }
    if (line.find("le=\"+Inf\"") != std::string::npos) {
      EXPECT_EQ(value, 50) << line;
    }
    previous_family = family;
    previous = value;
  }
}

// vllm:request_queue_time_seconds follows the engine's queue time of each finished request;
// a request that was never scheduled has none and adds no observation. Every FinishReason of
// vLLM has its success series from the start.
TEST(VllmMetricsTest, QueueTimeAndFinishReasons) {
  Registry registry;
  VllmMetrics metrics(&registry, "m", 2048);
  const std::string l = "{model_name=\"m\",engine=\"0\"}";
  auto success = [&](const Parsed& parsed, const char* reason) {
    return parsed.samples.at("vllm:request_success_total{model_name=\"m\",engine=\"0\",finished_reason=\"" +
                             std::string(reason) + "\"}");
  };
  Parsed parsed = parse(registry.expose());
  for (const char* reason : {"stop", "length", "abort", "error", "repetition"}) {
    EXPECT_EQ(success(parsed, reason), 0) << reason;
  }
  EXPECT_EQ(parsed.samples.at("vllm:request_queue_time_seconds_count" + l), 0);

  metrics.record_finished(FinishedRequest{"stop", 2.0, 0.25, 5, 3});
  metrics.record_finished(FinishedRequest{"length", 3.0, 1.5, 5, 3});
  metrics.record_finished(FinishedRequest{"error", 0.5, std::nullopt, 5, 0});
  parsed = parse(registry.expose());
  EXPECT_EQ(parsed.samples.at("vllm:request_queue_time_seconds_count" + l), 2);
  EXPECT_DOUBLE_EQ(parsed.samples.at("vllm:request_queue_time_seconds_sum" + l), 1.75);
  EXPECT_EQ(parsed.samples.at("vllm:request_queue_time_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"0.3\"}"), 1);
  EXPECT_EQ(parsed.samples.at("vllm:request_queue_time_seconds_bucket{model_name=\"m\",engine=\"0\",le=\"1.5\"}"), 2);
  EXPECT_EQ(parsed.samples.at("vllm:e2e_request_latency_seconds_count" + l), 3);
  EXPECT_EQ(success(parsed, "stop"), 1);
  EXPECT_EQ(success(parsed, "length"), 1);
  EXPECT_EQ(success(parsed, "error"), 1);
  EXPECT_EQ(success(parsed, "abort"), 0);
}

TEST(VllmMetricsTest, OneTwoFiveBuckets) {
  EXPECT_EQ(build_1_2_5_buckets(100), (std::vector<double>{1, 2, 5, 10, 20, 50, 100}));
  EXPECT_EQ(build_1_2_5_buckets(1), (std::vector<double>{1}));
}

TEST(ProcessMetricsTest, ReadsProcSelf) {
  const auto stats = read_process_stats();
  ASSERT_TRUE(stats.has_value());
  EXPECT_GT(stats->resident_memory_bytes, 1e5);
  EXPECT_GT(stats->virtual_memory_bytes, stats->resident_memory_bytes);
  EXPECT_GE(stats->open_fds, 3);
  EXPECT_FALSE(read_process_stats("/nonexistent").has_value());
}

}  // namespace
}  // namespace kiln::metrics

namespace kiln::metrics {
namespace {

TEST(VllmMetricsTest, SpecDecodeCountersAppearOnlyWithSpeculativeDecoding) {
  Registry registry;
  VllmMetrics metrics(&registry, "m", 2048);
  SchedulerSnapshot snapshot;
  metrics.update_scheduler(snapshot);
  EXPECT_EQ(registry.expose().find("spec_decode"), std::string::npos);

  snapshot.spec_decode_num_accepted_tokens_per_pos = {0, 0, 0};
  metrics.update_scheduler(snapshot);
  snapshot.spec_decode_num_drafts = 10;
  snapshot.spec_decode_num_draft_tokens = 30;
  snapshot.spec_decode_num_accepted_tokens = 14;
  snapshot.spec_decode_num_accepted_tokens_per_pos = {8, 4, 2};
  metrics.update_scheduler(snapshot);
  const Parsed parsed = parse(registry.expose());
  const std::string l = "{model_name=\"m\",engine=\"0\"}";
  EXPECT_EQ(parsed.samples.at("vllm:spec_decode_num_drafts_total" + l), 10);
  EXPECT_EQ(parsed.samples.at("vllm:spec_decode_num_draft_tokens_total" + l), 30);
  EXPECT_EQ(parsed.samples.at("vllm:spec_decode_num_accepted_tokens_total" + l), 14);
  EXPECT_EQ(parsed.types.at("vllm:spec_decode_num_accepted_tokens_total"), "counter");
  for (int pos = 0; pos < 3; ++pos) {
    EXPECT_EQ(parsed.samples.at("vllm:spec_decode_num_accepted_tokens_per_pos_total{model_name=\"m\",engine=\"0\",position=\"" +
                                std::to_string(pos) + "\"}"),
              8 >> pos);
  }
}

}  // namespace
}  // namespace kiln::metrics
