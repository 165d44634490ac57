#include "tracing/otlp_exporter.h"

#include <curl/curl.h>

#include <chrono>

#include "base/clock.h"
#include "base/log.h"

namespace kiln::tracing {

Result<std::string> otlp_traces_url(const std::string& endpoint) {
  const size_t scheme_end = endpoint.find("://");
  const std::string scheme = scheme_end == std::string::npos ? "" : endpoint.substr(0, scheme_end);
  if (scheme != "http" && scheme != "https") {
    return Status::error("--otlp-traces-endpoint " + endpoint +
                         ": expected an http:// or https:// URL of an OTLP/HTTP collector (e.g. http://localhost:4318/v1/traces)");
  }
  const size_t path = endpoint.find('/', scheme_end + 3);
  if (scheme_end + 3 >= endpoint.size() || path == scheme_end + 3) {
    return Status::error("--otlp-traces-endpoint " + endpoint + ": no host");
  }
  if (path == std::string::npos) return endpoint + "/v1/traces";
  if (path == endpoint.size() - 1) return endpoint + "v1/traces";
  return endpoint;
}

Status post_with_curl(const std::string& url, const std::string& body, double timeout_s) {
  CURL* curl = curl_easy_init();
  if (!curl) return Status::error("curl_easy_init failed");
  curl_slist* headers = curl_slist_append(nullptr, "Content-Type: application/x-protobuf");
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_s * 1000));
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(std::min(timeout_s, 2.0) * 1000));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  // The collector's answer (an ExportTraceServiceResponse) is not needed.
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t count, void*) { return size * count; });
  const CURLcode code = curl_easy_perform(curl);
  long status = 0;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  curl_easy_cleanup(curl);
  if (code != CURLE_OK) return Status::error(std::string(curl_easy_strerror(code)));
  if (status < 200 || status >= 300) return Status::error("the collector answered HTTP " + std::to_string(status));
  return ok_status();
}

Result<std::unique_ptr<OtlpExporter>> OtlpExporter::create(OtlpExporterConfig config, OtlpPost post) {
  KILN_ASSIGN_OR_RETURN(std::string url, otlp_traces_url(config.endpoint));
  return std::unique_ptr<OtlpExporter>(new OtlpExporter(std::move(config), std::move(url), std::move(post)));
}

OtlpExporter::OtlpExporter(OtlpExporterConfig config, std::string url, OtlpPost post)
    : config_(std::move(config)), url_(std::move(url)), post_(std::move(post)), worker_([this] { run(); }) {}

OtlpExporter::~OtlpExporter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void OtlpExporter::submit(SpanData span) {
  bool wake = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopping_ || queue_.size() >= config_.max_queue_spans) {
      dropped_.fetch_add(1);
      return;
    }
    queue_.push_back(std::move(span));
    wake = queue_.size() >= config_.max_batch_spans;
  }
  if (wake) wake_.notify_one();
}

size_t OtlpExporter::queue_size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return queue_.size();
}

void OtlpExporter::run() {
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait_for(lock, std::chrono::duration<double>(config_.flush_interval_s),
                   [this] { return stopping_ || queue_.size() >= config_.max_batch_spans; });
    const bool last = stopping_;
    while (!queue_.empty()) {
      std::vector<SpanData> batch;
      while (!queue_.empty() && batch.size() < config_.max_batch_spans) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      lock.unlock();
      export_batch(std::move(batch));
      lock.lock();
      // At shutdown one batch at most, so that exit is not held up by a dead collector; the stop
      // may come while a drain is under way, hence stopping_ and not only last.
      if (last || stopping_) break;
    }
    if (stopping_) {
      dropped_.fetch_add(static_cast<int64_t>(queue_.size()));
      queue_.clear();
      return;
    }
  }
}

void OtlpExporter::export_batch(std::vector<SpanData> batch) {
  const std::string body = encode_export_request(config_.resource, config_.scope_version, batch);
  const Status status = post_(url_, body, config_.export_timeout_s);
  if (status.ok()) {
    exported_.fetch_add(static_cast<int64_t>(batch.size()));
    return;
  }
  dropped_.fetch_add(static_cast<int64_t>(batch.size()));
  const double now = monotonic_seconds();
  if (now - last_report_s_ >= 60) {
    KILN_LOG(Warning) << "OTLP trace export to " << url_ << " failed: " << status.message() << " ("
                      << dropped_.load() - dropped_reported_ << " spans dropped since the last report)";
    last_report_s_ = now;
    dropped_reported_ = dropped_.load();
  }
}

}  // namespace kiln::tracing
