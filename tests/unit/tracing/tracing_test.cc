// W3C traceparent parsing, the collector URL, and the exporter's promises: submit never blocks,
// the queue is bounded (a dead or slow collector costs dropped spans, counted, not memory or
// latency), batches are posted off the caller's thread, and shutdown is bounded. The wire
// format itself is checked by the e2e test against the official OTLP .proto files.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "tracing/otlp_exporter.h"
#include "tracing/trace_context.h"

namespace kiln::tracing {
namespace {

using Clock = std::chrono::steady_clock;

TEST(TraceParent, ParsesTheW3cExample) {
  auto context = parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "congo=t61rcWkgMzE");
  ASSERT_TRUE(context.has_value());
  EXPECT_EQ(to_hex(context->trace_id.data(), 16), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(to_hex(context->parent_span_id.data(), 8), "00f067aa0ba902b7");
  EXPECT_TRUE(context->sampled);
  EXPECT_EQ(context->trace_state, "congo=t61rcWkgMzE");
  EXPECT_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")->sampled);
  // A later version may append fields.
  EXPECT_TRUE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what").has_value());
}

TEST(TraceParent, RejectsMalformedHeaders) {
  for (const char* bad : {"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
                          "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
                          "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                          "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
                          "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
                          "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}) {
    EXPECT_FALSE(parse_traceparent(bad).has_value()) << bad;
  }
}

TEST(TraceIds, AreRandomAndNonZero) {
  IdGenerator ids;
  const TraceId a = ids.trace_id();
  const TraceId b = ids.trace_id();
  EXPECT_NE(a, b);
  EXPECT_NE(a, TraceId{});
  EXPECT_NE(ids.span_id(), SpanId{});
}

TEST(OtlpUrl, AddsTheTracesPathToABareEndpoint) {
  EXPECT_EQ(*otlp_traces_url("http://localhost:4318"), "http://localhost:4318/v1/traces");
  EXPECT_EQ(*otlp_traces_url("http://localhost:4318/"), "http://localhost:4318/v1/traces");
  EXPECT_EQ(*otlp_traces_url("https://c.example/otlp/v1/traces"), "https://c.example/otlp/v1/traces");
  auto grpc = otlp_traces_url("localhost:4317");
  ASSERT_FALSE(grpc.ok());
  EXPECT_NE(grpc.message().find("--otlp-traces-endpoint"), std::string::npos);
  EXPECT_FALSE(otlp_traces_url("http://").ok());
}

SpanData span_named(const std::string& name) {
  SpanData span;
  span.name = name;
  span.trace_id[0] = 1;
  span.span_id[0] = 2;
  return span;
}

TEST(OtlpExporter, PostsBatchesOffTheCallersThread) {
  std::atomic<int> posts{0};
  std::atomic<size_t> bytes{0};
  const auto caller = std::this_thread::get_id();
  std::atomic<bool> same_thread{false};
  OtlpExporterConfig config;
  config.endpoint = "http://127.0.0.1:1/v1/traces";
  config.max_batch_spans = 10;
  config.flush_interval_s = 0.05;
  auto exporter = OtlpExporter::create(config, [&](const std::string& url, const std::string& body, double) {
    if (std::this_thread::get_id() == caller) same_thread = true;
    EXPECT_EQ(url, "http://127.0.0.1:1/v1/traces");
    ++posts;
    bytes += body.size();
    return ok_status();
  });
  ASSERT_TRUE(exporter.ok());
  for (int i = 0; i < 25; ++i) (*exporter)->submit(span_named("s" + std::to_string(i)));
  for (int i = 0; i < 200 && (*exporter)->num_exported() < 25; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ((*exporter)->num_exported(), 25);
  EXPECT_GE(posts.load(), 3);  // batches of at most 10
  EXPECT_FALSE(same_thread.load());
  EXPECT_EQ((*exporter)->num_dropped(), 0);
}

// A collector that hangs for its whole timeout: submit stays instant, the queue stops at its
// bound and the rest is dropped and counted; shutdown waits for one export at most.
TEST(OtlpExporter, DeadCollectorNeverBlocksOrGrows) {
  std::atomic<bool> release{false};
  OtlpExporterConfig config;
  config.endpoint = "http://127.0.0.1:1";
  config.max_queue_spans = 100;
  config.max_batch_spans = 10;
  config.flush_interval_s = 0.01;
  config.export_timeout_s = 1;
  auto exporter = OtlpExporter::create(config, [&](const std::string&, const std::string&, double timeout_s) {
    const auto until = Clock::now() + std::chrono::duration<double>(timeout_s);
    while (!release && Clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    return Status::error("timed out");
  });
  ASSERT_TRUE(exporter.ok());
  const auto begin = Clock::now();
  for (int i = 0; i < 10000; ++i) (*exporter)->submit(span_named("s"));
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - begin).count(), 0.5);
  EXPECT_LE((*exporter)->queue_size(), 100u);
  EXPECT_GE((*exporter)->num_dropped(), 10000 - 100 - 10);
  const auto stop = Clock::now();
  exporter->reset();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - stop).count(), 3.0);
}

// A stop that comes while the exporter drains a full queue into a dead collector still waits for
// the export under way only, not one timeout per queued batch (found by the ASan build, where the
// exporter woke before the stop and then drained all ten batches).
TEST(OtlpExporter, StopDuringADrainWaitsForOneExportAtMost) {
  std::atomic<int> exports{0};
  OtlpExporterConfig config;
  config.endpoint = "http://127.0.0.1:1";
  config.max_queue_spans = 100;
  config.max_batch_spans = 10;
  config.flush_interval_s = 0.01;
  config.export_timeout_s = 1;
  auto exporter = OtlpExporter::create(config, [&](const std::string&, const std::string&, double timeout_s) {
    exports.fetch_add(1);
    std::this_thread::sleep_for(std::chrono::duration<double>(timeout_s));
    return Status::error("timed out");
  });
  ASSERT_TRUE(exporter.ok());
  for (int i = 0; i < 10; ++i) (*exporter)->submit(span_named("first batch"));
  const auto deadline = Clock::now() + std::chrono::seconds(5);
  while (exports.load() == 0 && Clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  ASSERT_EQ(exports.load(), 1);  // the worker is inside its drain loop, exporting
  for (int i = 0; i < 100; ++i) (*exporter)->submit(span_named("queued"));
  EXPECT_EQ((*exporter)->queue_size(), 100u);
  const auto stop = Clock::now();
  exporter->reset();
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - stop).count(), 2.5);
  EXPECT_EQ(exports.load(), 1);
}

// The real poster against a port nobody listens on fails fast with curl's reason.
TEST(OtlpExporter, CurlPosterReportsConnectionFailures) {
  const Status status = post_with_curl("http://127.0.0.1:9/v1/traces", "x", 2);
  ASSERT_FALSE(status.ok());
  EXPECT_FALSE(status.message().empty());
}

}  // namespace
}  // namespace kiln::tracing
