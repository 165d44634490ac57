#include "metrics/vllm_metrics.h"

#include <cstdio>

namespace kiln::metrics {
namespace {

const std::vector<std::string> kLabels = {"model_name", "engine"};

std::string python_str(double value) {
  std::string text = format_prometheus_value(value);
  return text;
}

}  // namespace

std::vector<double> build_1_2_5_buckets(double max_value) {
  std::vector<double> buckets;
  for (double scale = 1;; scale *= 10) {
    for (double mantissa : {1.0, 2.0, 5.0}) {
      if (mantissa * scale > max_value) return buckets;
      buckets.push_back(mantissa * scale);
    }
  }
}

VllmMetrics::VllmMetrics(Registry* registry, std::string model_name, int max_model_len)
    : registry_(registry), model_name_(std::move(model_name)) {
  Registry& r = *registry;
  r.add_gauge("vllm:num_requests_running", "Number of requests in model execution batches.", kLabels);
  r.add_gauge("vllm:num_requests_waiting", "Number of requests waiting to be processed.", kLabels);
  r.add_gauge("vllm:gpu_cache_usage_perc",
              "GPU KV-cache usage. 1 means 100 percent usage. DEPRECATED: Use vllm:kv_cache_usage_perc instead.",
              kLabels);
  r.add_gauge("vllm:kv_cache_usage_perc", "KV-cache usage. 1 means 100 percent usage.", kLabels);
  r.add_counter("vllm:gpu_prefix_cache_queries",
                "GPU prefix cache queries, in terms of number of queried tokens. DEPRECATED: Use "
                "vllm:prefix_cache_queries instead.",
                kLabels);
  r.add_counter("vllm:gpu_prefix_cache_hits",
                "GPU prefix cache hits, in terms of number of cached tokens. DEPRECATED: Use "
                "vllm:prefix_cache_hits instead.",
                kLabels);
  r.add_counter("vllm:prefix_cache_queries", "Prefix cache queries, in terms of number of queried tokens.",
                kLabels);
  r.add_counter("vllm:prefix_cache_hits", "Prefix cache hits, in terms of number of cached tokens.", kLabels);
  r.add_counter("vllm:num_preemptions", "Cumulative number of preemption from the engine.", kLabels);
  r.add_counter("vllm:prompt_tokens", "Number of prefill tokens processed.", kLabels);
  r.add_counter("vllm:generation_tokens", "Number of generation tokens processed.", kLabels);
  r.add_counter("vllm:request_success", "Count of successfully processed requests.",
                {"model_name", "engine", "finished_reason"});
  const std::vector<double> token_buckets = build_1_2_5_buckets(max_model_len);
  r.add_histogram("vllm:request_prompt_tokens", "Number of prefill tokens processed.", kLabels, token_buckets);
  r.add_histogram("vllm:request_generation_tokens", "Number of generation tokens processed.", kLabels,
                  token_buckets);
  r.add_histogram("vllm:time_to_first_token_seconds", "Histogram of time to first token in seconds.", kLabels,
                  {0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                   10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0});
  const std::vector<double> itl_buckets = {0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5,
                                           0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0};
  r.add_histogram("vllm:time_per_output_token_seconds",
                  "Histogram of time per output token in seconds. DEPRECATED: Use "
                  "vllm:inter_token_latency_seconds instead.",
                  kLabels, itl_buckets);
  r.add_histogram("vllm:inter_token_latency_seconds", "Histogram of inter-token latency in seconds.",
                  kLabels, itl_buckets);
  const std::vector<double> latency_buckets = {0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0,
                                               30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
                                               1920.0, 7680.0};
  r.add_histogram("vllm:e2e_request_latency_seconds", "Histogram of e2e request latency in seconds.",
                  kLabels, latency_buckets);
  r.add_histogram("vllm:request_queue_time_seconds",
                  "Histogram of time spent in WAITING phase for request.", kLabels, latency_buckets);
  r.add_gauge("vllm:cache_config_info", "Information of the LLMEngine CacheConfig",
              {"block_size", "cache_dtype", "enable_prefix_caching", "gpu_memory_utilization",
               "num_gpu_blocks", "engine"});

  const LabelValues l = labels();
  running_ = r.gauge("vllm:num_requests_running", l);
  waiting_ = r.gauge("vllm:num_requests_waiting", l);
  gpu_cache_usage_ = r.gauge("vllm:gpu_cache_usage_perc", l);
  kv_usage_ = r.gauge("vllm:kv_cache_usage_perc", l);
  gpu_prefix_queries_ = r.counter("vllm:gpu_prefix_cache_queries", l);
  gpu_prefix_hits_ = r.counter("vllm:gpu_prefix_cache_hits", l);
  prefix_queries_ = r.counter("vllm:prefix_cache_queries", l);
  prefix_hits_ = r.counter("vllm:prefix_cache_hits", l);
  preemptions_ = r.counter("vllm:num_preemptions", l);
  prompt_tokens_ = r.counter("vllm:prompt_tokens", l);
  generation_tokens_ = r.counter("vllm:generation_tokens", l);
  // vLLM makes one series per FinishReason up front, so they read 0 before the first request.
  for (const char* reason : {"stop", "length", "abort", "error", "repetition"}) {
    r.counter("vllm:request_success", {model_name_, "0", reason});
  }
  prompt_tokens_hist_ = r.histogram("vllm:request_prompt_tokens", l);
  generation_tokens_hist_ = r.histogram("vllm:request_generation_tokens", l);
  ttft_ = r.histogram("vllm:time_to_first_token_seconds", l);
  tpot_ = r.histogram("vllm:time_per_output_token_seconds", l);
  itl_ = r.histogram("vllm:inter_token_latency_seconds", l);
  e2e_ = r.histogram("vllm:e2e_request_latency_seconds", l);
  queue_ = r.histogram("vllm:request_queue_time_seconds", l);
}

void VllmMetrics::set_cache_config(const CacheConfigInfo& info) {
  registry_
      ->gauge("vllm:cache_config_info",
              {std::to_string(info.block_size), info.cache_dtype,
               info.enable_prefix_caching ? "True" : "False", python_str(info.gpu_memory_utilization),
               std::to_string(info.num_gpu_blocks), "0"})
      ->set(1.0);
}

void VllmMetrics::add_spec_decode_metrics(size_t num_positions) {
  Registry& r = *registry_;
  r.add_counter("vllm:spec_decode_num_drafts", "Number of spec decoding drafts.", kLabels);
  r.add_counter("vllm:spec_decode_num_draft_tokens", "Number of draft tokens.", kLabels);
  r.add_counter("vllm:spec_decode_num_accepted_tokens", "Number of accepted tokens.", kLabels);
  r.add_counter("vllm:spec_decode_num_accepted_tokens_per_pos", "Accepted tokens per draft position.",
                {"model_name", "engine", "position"});
  const LabelValues l = labels();
  spec_drafts_ = r.counter("vllm:spec_decode_num_drafts", l);
  spec_draft_tokens_ = r.counter("vllm:spec_decode_num_draft_tokens", l);
  spec_accepted_tokens_ = r.counter("vllm:spec_decode_num_accepted_tokens", l);
  for (size_t pos = 0; pos < num_positions; ++pos) {
    spec_accepted_per_pos_.push_back(
        r.counter("vllm:spec_decode_num_accepted_tokens_per_pos", {model_name_, "0", std::to_string(pos)}));
  }
}

void VllmMetrics::update_scheduler(const SchedulerSnapshot& s) {
  std::lock_guard lock(last_mutex_);
  running_->set(s.num_running);
  waiting_->set(s.num_waiting);
  kv_usage_->set(s.kv_cache_usage);
  gpu_cache_usage_->set(s.kv_cache_usage);
  auto follow = [](Counter* counter, int64_t now, int64_t before) {
    if (now > before) counter->inc(static_cast<double>(now - before));
  };
  follow(prompt_tokens_, s.prompt_tokens_total, last_.prompt_tokens_total);
  follow(generation_tokens_, s.generation_tokens_total, last_.generation_tokens_total);
  follow(preemptions_, s.num_preemptions_total, last_.num_preemptions_total);
  follow(prefix_queries_, s.prefix_cache_queries_total, last_.prefix_cache_queries_total);
  follow(gpu_prefix_queries_, s.prefix_cache_queries_total, last_.prefix_cache_queries_total);
  follow(prefix_hits_, s.prefix_cache_hits_total, last_.prefix_cache_hits_total);
  follow(gpu_prefix_hits_, s.prefix_cache_hits_total, last_.prefix_cache_hits_total);
  // As vLLM, the spec_decode metrics exist only when speculative decoding is configured: the
  // engine's per-position counters say so from its first snapshot on.
  if (spec_drafts_ == nullptr && !s.spec_decode_num_accepted_tokens_per_pos.empty()) {
    add_spec_decode_metrics(s.spec_decode_num_accepted_tokens_per_pos.size());
  }
  if (spec_drafts_ != nullptr) {
    follow(spec_drafts_, s.spec_decode_num_drafts, last_.spec_decode_num_drafts);
    follow(spec_draft_tokens_, s.spec_decode_num_draft_tokens, last_.spec_decode_num_draft_tokens);
    follow(spec_accepted_tokens_, s.spec_decode_num_accepted_tokens, last_.spec_decode_num_accepted_tokens);
    for (size_t pos = 0; pos < spec_accepted_per_pos_.size() && pos < s.spec_decode_num_accepted_tokens_per_pos.size(); ++pos) {
      const int64_t before = pos < last_.spec_decode_num_accepted_tokens_per_pos.size() ? last_.spec_decode_num_accepted_tokens_per_pos[pos] : 0;
      follow(spec_accepted_per_pos_[pos], s.spec_decode_num_accepted_tokens_per_pos[pos], before);
    }
  }
  last_ = s;
}

void VllmMetrics::observe_time_to_first_token(double seconds) { ttft_->observe(seconds); }

void VllmMetrics::observe_inter_token_latency(double seconds) {
  itl_->observe(seconds);
  tpot_->observe(seconds);
}

void VllmMetrics::record_finished(const FinishedRequest& request) {
  registry_->counter("vllm:request_success", {model_name_, "0", request.finished_reason})->inc();
  e2e_->observe(request.e2e_latency_s);
  if (request.queue_time_s) queue_->observe(*request.queue_time_s);
  prompt_tokens_hist_->observe(request.num_prompt_tokens);
  generation_tokens_hist_->observe(request.num_generation_tokens);
}

}  // namespace kiln::metrics
