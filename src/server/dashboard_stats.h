// The body of GET /v1/stats (docs/dashboard-api.md), built from plain structs so that the HTTP
// layer only gathers values and sends the string. No sockets, no engine types.
#pragma once

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::server {

// One value of the config / memory_plan / device tables (kept in the caller's order).
using StatValue = std::variant<bool, int64_t, double, std::string>;
using StatTable = std::vector<std::pair<std::string, StatValue>>;

struct Percentiles {
  std::optional<double> p50, p90, p99;  // null in JSON when there were no samples
};

struct RecentRequest {
  std::string id;  // the response id, e.g. "chatcmpl-..."
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t cached_tokens = 0;
  double ttft_ms = 0;  // NaN (null in JSON) when it ended before its first token
  double e2e_ms = 0;
  std::string finish_reason;  // stop, length, abort, error
  double finished_at = 0;     // Unix seconds
};

struct StatCounters {
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  int64_t requests_finished_total = 0;
  int64_t num_preemptions_total = 0;
  int64_t prefix_cache_queries_total = 0;
  int64_t prefix_cache_hits_total = 0;
  // Speculative decoding (0 when it is off): acceptance rate = accepted / draft tokens.
  int64_t spec_decode_num_drafts_total = 0;
  int64_t spec_decode_num_draft_tokens_total = 0;
  int64_t spec_decode_num_accepted_tokens_total = 0;
};

struct StatGauges {
  int64_t num_requests_running = 0;
  int64_t num_requests_waiting = 0;
  double kv_cache_usage = 0;  // 0..1
};

struct LatencySummary {
  double window_s = 0;
  Percentiles ttft_ms, itl_ms, e2e_ms;
};

struct DashboardStats {
  double time = 0;  // Unix seconds when the snapshot was taken
  double uptime_s = 0;
  std::string version, model, served_model_name;
  StatTable config, memory_plan, device;
  StatCounters counters;
  StatGauges gauges;
  LatencySummary latency;
  std::vector<RecentRequest> recent_requests;  // newest first
};

// The JSON text of GET /v1/stats. Non-finite doubles become null.
std::string dashboard_stats_json(const DashboardStats& stats);

// Nearest-rank percentiles of `values` (reordered in place).
Percentiles compute_percentiles(std::vector<double>& values);

// Finished requests and their latencies over a sliding time window, for the latency
// percentiles and the recent-requests table. Thread-safe: HTTP threads record, the stats
// handler reads.
class RequestStatsWindow {
 public:
  // window_s: how far back percentiles look; max_requests / max_itl_samples bound the memory.
  RequestStatsWindow(double window_s, size_t max_requests, size_t max_itl_samples);

  // Records a finished (or aborted) request with the gaps between its tokens.
  void record(const RecentRequest& request, std::span<const double> itl_ms);

  // Percentiles over requests finished in (now - window_s, now].
  LatencySummary latency(double now) const;

  // Up to `limit` most recent requests, newest first.
  std::vector<RecentRequest> recent(size_t limit) const;

 private:
  struct ItlSample {
    double finished_at;
    double itl_ms;
  };
  void trim_locked();

  const double window_s_;
  const size_t max_requests_;
  const size_t max_itl_samples_;
  mutable std::mutex mutex_;
  std::deque<RecentRequest> requests_;  // oldest first
  std::deque<ItlSample> itl_;           // oldest first
};

}  // namespace kiln::server
