#include "engine/stat_logger.h"

#include <cstdio>

#include "base/clock.h"
#include "base/log.h"
#include "engine/spec/spec_decode_log.h"

namespace kiln {

StatLogger::StatLogger(double interval_s) : interval_s_(interval_s), last_log_s_(monotonic_seconds()) {}

std::optional<double> StatLogger::next_deadline_s() const {
  if (interval_s_ <= 0 || !busy_since_log_) return std::nullopt;
  return last_log_s_ + interval_s_;
}

void StatLogger::maybe_log(const EngineStats& stats, bool has_work) {
  if (interval_s_ <= 0 || !busy_since_log_) return;
  const double now = monotonic_seconds();
  const double elapsed = now - last_log_s_;
  if (elapsed < interval_s_) return;
  const double hit_rate = stats.prefix_cache_queries_tokens_total > 0
                              ? 100.0 * stats.prefix_cache_hits_tokens_total / stats.prefix_cache_queries_tokens_total
                              : 0.0;
  char line[320];
  std::snprintf(line, sizeof(line),
                "Avg prompt throughput: %.1f tokens/s, Avg generation throughput: %.1f tokens/s, "
                "Running: %d reqs, Waiting: %d reqs, KV cache usage: %.1f%%, Prefix cache hit "
                "rate: %.1f%%",
                (stats.prompt_tokens_total - logged_prompt_tokens_) / elapsed,
                (stats.generation_tokens_total - logged_generation_tokens_) / elapsed, stats.num_running,
                stats.num_waiting, 100.0 * stats.kv_cache_usage, hit_rate);
  KILN_LOG(Info) << line;
  const SpecDecodeCounters spec{stats.spec_decode_num_drafts, stats.spec_decode_num_draft_tokens,
                                stats.spec_decode_num_accepted_tokens, stats.spec_decode_num_accepted_tokens_per_pos};
  if (auto spec_line = format_spec_decode_line(spec, logged_spec_, elapsed)) {
    KILN_LOG(Info) << *spec_line;
  }
  logged_spec_ = spec;
  last_log_s_ = now;
  logged_prompt_tokens_ = stats.prompt_tokens_total;
  logged_generation_tokens_ = stats.generation_tokens_total;
  busy_since_log_ = has_work;
}

}  // namespace kiln
