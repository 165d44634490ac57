// The metrics vLLM's /metrics serves, with vLLM's names, help texts, labels (model_name, engine)
// and bucket boundaries, so that the routers and autoscalers built on them (Gateway API
// Inference Extension, production-stack router, AIBrix, KEDA) work unchanged. Plain structs in,
// no engine types: the server converts the engine's stats.
#pragma once

#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "metrics/registry.h"

namespace kiln::metrics {

struct SchedulerSnapshot {
  int num_running = 0;
  int num_waiting = 0;
  double kv_cache_usage = 0;  // 0..1
  // Cumulative totals since start; the metrics follow them.
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  int64_t num_preemptions_total = 0;
  int64_t prefix_cache_queries_total = 0;
  int64_t prefix_cache_hits_total = 0;
  // Speculative decoding (vLLM's spec_decode counters); per position empty when it is off, and
  // then no spec_decode metric is exported.
  int64_t spec_decode_num_drafts = 0;
  int64_t spec_decode_num_draft_tokens = 0;
  int64_t spec_decode_num_accepted_tokens = 0;
  std::vector<int64_t> spec_decode_num_accepted_tokens_per_pos;
};

struct CacheConfigInfo {
  int block_size = 16;
  int64_t num_gpu_blocks = 0;
  double gpu_memory_utilization = 0.9;
  bool enable_prefix_caching = true;
  std::string cache_dtype = "auto";
};

// One request that ended in the engine: stop, length, or an engine-side error ("error"). As in
// vLLM, a request the client abandoned (disconnect) is not recorded: vLLM's frontend drops an
// aborted request's state without adding it to the finished requests, so
// request_success_total{finished_reason="abort"} and the per-request histograms never count
// client aborts (vllm-project/vllm#31503, #55634).
struct FinishedRequest {
  std::string finished_reason;  // "stop", "length", "error" (or "abort" for an engine abort)
  double e2e_latency_s = 0;
  // Waiting time before the first scheduling; unset when the request was never scheduled
  // (then nothing is observed into vllm:request_queue_time_seconds).
  std::optional<double> queue_time_s;
  int num_prompt_tokens = 0;
  int num_generation_tokens = 0;
};

// vLLM's build_1_2_5_buckets: 1, 2, 5, 10, 20, 50, ... up to max_value.
std::vector<double> build_1_2_5_buckets(double max_value);

class VllmMetrics {
 public:
  VllmMetrics(Registry* registry, std::string model_name, int max_model_len);

  void set_cache_config(const CacheConfigInfo& info);
  void update_scheduler(const SchedulerSnapshot& snapshot);
  void observe_time_to_first_token(double seconds);
  // Observed into both vllm:inter_token_latency_seconds and vllm:time_per_output_token_seconds.
  void observe_inter_token_latency(double seconds);
  void record_finished(const FinishedRequest& request);

 private:
  LabelValues labels() const { return {model_name_, "0"}; }
  // Declares vLLM's spec_decode counters, one per-position child per draft position.
  void add_spec_decode_metrics(size_t num_positions);

  Registry* registry_;
  std::string model_name_;
  Gauge* running_;
  Gauge* waiting_;
  Gauge* kv_usage_;
  Gauge* gpu_cache_usage_;
  Counter* prompt_tokens_;
  Counter* generation_tokens_;
  Counter* preemptions_;
  Counter* prefix_queries_;
  Counter* prefix_hits_;
  Counter* gpu_prefix_queries_;
  Counter* gpu_prefix_hits_;
  Histogram* ttft_;
  Histogram* itl_;
  Histogram* tpot_;
  Histogram* e2e_;
  Histogram* queue_;
  Histogram* prompt_tokens_hist_;
  Histogram* generation_tokens_hist_;
  Counter* spec_drafts_ = nullptr;  // the spec_decode counters, once speculative decoding runs
  Counter* spec_draft_tokens_ = nullptr;
  Counter* spec_accepted_tokens_ = nullptr;
  std::vector<Counter*> spec_accepted_per_pos_;
  std::mutex last_mutex_;  // scrapes may run on several HTTP threads at once
  SchedulerSnapshot last_;
};

}  // namespace kiln::metrics
