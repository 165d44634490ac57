// Exports finished spans to an OpenTelemetry collector over OTLP/HTTP (protobuf), off the request
// path: submit() only moves the span into a bounded queue (dropping it when full) and a worker
// thread posts batches. A slow or dead collector therefore never slows the server or grows its
// memory; what it costs is dropped spans, counted and logged once a minute.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "tracing/otlp_encoder.h"
#include "tracing/span.h"

namespace kiln::tracing {

struct OtlpExporterConfig {
  std::string endpoint;  // http(s)://host:port/v1/traces; a URL without a path gets /v1/traces
  Resource resource;
  std::string scope_version;
  size_t max_queue_spans = 2048;  // OpenTelemetry's BatchSpanProcessor default
  size_t max_batch_spans = 512;
  double flush_interval_s = 1;
  double export_timeout_s = 5;
};

// Posts one encoded batch; returns an error naming what failed. Replaceable in tests.
using OtlpPost = std::function<Status(const std::string& url, const std::string& body, double timeout_s)>;

// The default poster: libcurl, Content-Type application/x-protobuf, 2xx is success.
Status post_with_curl(const std::string& url, const std::string& body, double timeout_s);

// "http://h:4318" -> "http://h:4318/v1/traces"; errors for a URL that is not http(s).
Result<std::string> otlp_traces_url(const std::string& endpoint);

class OtlpExporter : public SpanSink {
 public:
  static Result<std::unique_ptr<OtlpExporter>> create(OtlpExporterConfig config, OtlpPost post = post_with_curl);
  // Flushes what is queued (one attempt, bounded by the export timeout) and stops the worker.
  ~OtlpExporter() override;

  void submit(SpanData span) override;

  int64_t num_exported() const { return exported_.load(); }
  int64_t num_dropped() const { return dropped_.load(); }
  size_t queue_size() const;

 private:
  OtlpExporter(OtlpExporterConfig config, std::string url, OtlpPost post);
  void run();
  void export_batch(std::vector<SpanData> batch);

  OtlpExporterConfig config_;
  std::string url_;
  OtlpPost post_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<SpanData> queue_;
  bool stopping_ = false;
  std::atomic<int64_t> exported_{0};
  std::atomic<int64_t> dropped_{0};
  int64_t dropped_reported_ = 0;  // worker only
  double last_report_s_ = -1e9;   // worker only
  std::thread worker_;
};

}  // namespace kiln::tracing
