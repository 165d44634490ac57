#include "server/dashboard_stats.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

namespace kiln::server {
namespace {

using nlohmann::json;

json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

json optional_number(const std::optional<double>& v) {
  return v.has_value() ? number(*v) : json(nullptr);
}

json table_json(const StatTable& table) {
  json out = json::object();
  for (const auto& entry : table) {
    // Not a structured binding: clang 14 (the sanitizer builds) cannot capture one in a lambda.
    const auto& key = entry.first;
    const auto& value = entry.second;
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, double>) {
            out[key] = number(v);
          } else {
            out[key] = v;
          }
        },
        value);
  }
  return out;
}

json percentiles_json(const Percentiles& p) {
  return {{"p50", optional_number(p.p50)}, {"p90", optional_number(p.p90)},
          {"p99", optional_number(p.p99)}};
}

}  // namespace

Percentiles compute_percentiles(std::vector<double>& values) {
  // A request aborted before its first token has no TTFT (NaN): it counts for nothing here.
  std::erase_if(values, [](double v) { return !std::isfinite(v); });
  if (values.empty()) return {};
  std::sort(values.begin(), values.end());
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  auto at = [&](double q) {
    const auto rank = static_cast<size_t>(std::ceil(q * static_cast<double>(values.size())));
    return values[std::clamp<size_t>(rank, 1, values.size()) - 1];
  };
  return {at(0.50), at(0.90), at(0.99)};
}

std::string dashboard_stats_json(const DashboardStats& s) {
  json recent = json::array();
  for (const RecentRequest& r : s.recent_requests) {
    recent.push_back({{"id", r.id},
                      {"prompt_tokens", r.prompt_tokens},
                      {"completion_tokens", r.completion_tokens},
                      {"cached_tokens", r.cached_tokens},
                      {"ttft_ms", number(r.ttft_ms)},
                      {"e2e_ms", number(r.e2e_ms)},
                      {"finish_reason", r.finish_reason},
                      {"finished_at", number(r.finished_at)}});
  }
  const json body = {
      {"object", "kiln.stats"},
      {"time", number(s.time)},
      {"uptime_s", number(s.uptime_s)},
      {"version", s.version},
      {"model", s.model},
      {"served_model_name", s.served_model_name},
      {"config", table_json(s.config)},
      {"memory_plan", table_json(s.memory_plan)},
      {"device", table_json(s.device)},
      {"counters",
       {{"prompt_tokens_total", s.counters.prompt_tokens_total},
        {"generation_tokens_total", s.counters.generation_tokens_total},
        {"requests_finished_total", s.counters.requests_finished_total},
        {"num_preemptions_total", s.counters.num_preemptions_total},
        {"prefix_cache_queries_total", s.counters.prefix_cache_queries_total},
        {"prefix_cache_hits_total", s.counters.prefix_cache_hits_total},
        {"spec_decode_num_drafts_total", s.counters.spec_decode_num_drafts_total},
        {"spec_decode_num_draft_tokens_total", s.counters.spec_decode_num_draft_tokens_total},
        {"spec_decode_num_accepted_tokens_total", s.counters.spec_decode_num_accepted_tokens_total}}},
      {"gauges",
       {{"num_requests_running", s.gauges.num_requests_running},
        {"num_requests_waiting", s.gauges.num_requests_waiting},
        {"kv_cache_usage", number(s.gauges.kv_cache_usage)}}},
      {"latency",
       {{"window_s", number(s.latency.window_s)},
        {"ttft_ms", percentiles_json(s.latency.ttft_ms)},
        {"itl_ms", percentiles_json(s.latency.itl_ms)},
        {"e2e_ms", percentiles_json(s.latency.e2e_ms)}}},
      {"recent_requests", std::move(recent)},
  };
  // Replace, not throw, on invalid UTF-8 in ids or names: a stats page must always render.
  return body.dump(-1, ' ', false, json::error_handler_t::replace);
}

RequestStatsWindow::RequestStatsWindow(double window_s, size_t max_requests,
                                       size_t max_itl_samples)
    : window_s_(window_s), max_requests_(max_requests), max_itl_samples_(max_itl_samples) {}

void RequestStatsWindow::record(const RecentRequest& request, std::span<const double> itl_ms) {
  std::lock_guard lock(mutex_);
  requests_.push_back(request);
  for (double gap : itl_ms) itl_.push_back({request.finished_at, gap});
  trim_locked();
}

void RequestStatsWindow::trim_locked() {
  while (requests_.size() > max_requests_) requests_.pop_front();
  while (itl_.size() > max_itl_samples_) itl_.pop_front();
}

LatencySummary RequestStatsWindow::latency(double now) const {
  std::vector<double> ttft, e2e, itl;
  {
    std::lock_guard lock(mutex_);
    for (const RecentRequest& r : requests_) {
      if (r.finished_at > now - window_s_ && r.finished_at <= now) {
        ttft.push_back(r.ttft_ms);
        e2e.push_back(r.e2e_ms);
      }
    }
    for (const ItlSample& s : itl_) {
      if (s.finished_at > now - window_s_ && s.finished_at <= now) itl.push_back(s.itl_ms);
    }
  }
  LatencySummary out;
  out.window_s = window_s_;
  out.ttft_ms = compute_percentiles(ttft);
  out.itl_ms = compute_percentiles(itl);
  out.e2e_ms = compute_percentiles(e2e);
  return out;
}

std::vector<RecentRequest> RequestStatsWindow::recent(size_t limit) const {
  std::lock_guard lock(mutex_);
  std::vector<RecentRequest> out;
  for (auto it = requests_.rbegin(); it != requests_.rend() && out.size() < limit; ++it) {
    out.push_back(*it);
  }
  return out;
}

}  // namespace kiln::server
