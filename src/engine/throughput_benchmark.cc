#include "engine/throughput_benchmark.h"

#include <algorithm>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "base/clock.h"
#include "base/progress_bar.h"

namespace kiln {
namespace {

double percentile(const std::vector<double>& sorted, double q) {
  if (sorted.empty()) return 0;
  const double rank = q * static_cast<double>(sorted.size() - 1);
  const size_t lo = static_cast<size_t>(rank);
  const size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

struct Tracker {
  std::mutex mutex;
  std::condition_variable done;
  int num_finished = 0;
  std::string error;
  std::vector<double> ttft_ms;
  std::vector<double> itl_ms;
  int64_t output_tokens = 0;
  std::vector<std::vector<int32_t>> outputs;  // with keep_tokens
};

}  // namespace

LatencySummary summarize_latencies(std::vector<double> values) {
  LatencySummary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.mean = std::accumulate(values.begin(), values.end(), 0.0) / static_cast<double>(values.size());
  s.p50 = percentile(values, 0.50);
  s.p99 = percentile(values, 0.99);
  return s;
}

Result<ThroughputResult> run_throughput_benchmark(EngineClient* engine,
                                                  const ThroughputBenchmarkOptions& options) {
  if (options.num_prompts < 1 || options.input_len < 1 || options.output_len < 1) {
    return Status::error("--num-prompts, --input-len and --output-len must be at least 1");
  }
  if (options.vocab_size < 1) return Status::error("benchmark: the model's vocab size is unknown");
  std::mt19937_64 rng(options.seed);
  std::uniform_int_distribution<int32_t> token(0, options.vocab_size - 1);
  std::vector<EngineRequest> requests(static_cast<size_t>(options.num_prompts));
  for (int i = 0; i < options.num_prompts; ++i) {
    EngineRequest& r = requests[i];
    r.request_id = "bench-" + std::to_string(i);
    r.prompt_token_ids.resize(static_cast<size_t>(options.input_len));
    for (int32_t& t : r.prompt_token_ids) t = token(rng);
    r.sampling.max_tokens = options.output_len;
    r.sampling.min_tokens = options.output_len;
    r.sampling.ignore_eos = true;
    r.sampling.temperature = options.temperature;
    r.sampling.top_p = 1.0f;
    r.sampling.seed = options.seed + static_cast<uint64_t>(i);
    // With a grammar, min_tokens alone holds the end back: with ignore_eos an end the grammar
    // allows could be sampled, leaving the rest of the output unconstrained.
    r.sampling.grammar = options.grammar;
    if (options.grammar) r.sampling.ignore_eos = false;
    r.speculative = options.speculative;
  }
  ThroughputResult result;
  if (options.keep_tokens) {
    for (const EngineRequest& r : requests) result.prompts.push_back(r.prompt_token_ids);
  }

  auto tracker = std::make_shared<Tracker>();
  if (options.keep_tokens) tracker->outputs.resize(requests.size());
  std::unique_ptr<ProgressBar> progress;
  if (options.show_progress) {
    progress = std::make_unique<ProgressBar>("Processed prompts", options.num_prompts);
  }
  ProgressBar* bar = progress.get();
  const double start_s = monotonic_seconds();
  for (size_t index = 0; index < requests.size(); ++index) {
    EngineRequest& r = requests[index];
    const double submit_s = monotonic_seconds();
    auto last_s = std::make_shared<double>(-1.0);
    const bool keep = options.keep_tokens;
    Status status = engine->submit(std::move(r), [tracker, submit_s, last_s, bar, index, keep](RequestOutput out) {
      const double now = monotonic_seconds();
      std::lock_guard<std::mutex> lock(tracker->mutex);
      int new_tokens = 0;
      for (const CompletionOutput& c : out.outputs) {
        new_tokens += static_cast<int>(c.new_token_ids.size());
        if (keep) tracker->outputs[index].insert(tracker->outputs[index].end(), c.new_token_ids.begin(), c.new_token_ids.end());
      }
      if (new_tokens > 0) {
        if (*last_s < 0) {
          // The first token's time is the TTFT; tokens arriving with it took no time of their own.
          tracker->ttft_ms.push_back(1000.0 * (now - submit_s));
          for (int t = 1; t < new_tokens; ++t) tracker->itl_ms.push_back(0.0);
        } else {
          for (int t = 0; t < new_tokens; ++t) tracker->itl_ms.push_back(1000.0 * (now - *last_s) / new_tokens);
        }
        *last_s = now;
        tracker->output_tokens += new_tokens;
      }
      if (!out.error.empty() && tracker->error.empty()) tracker->error = out.error;
      if (out.finished) {
        ++tracker->num_finished;
        if (bar) bar->advance(1);
        tracker->done.notify_all();
      }
    });
    if (!status.ok()) return status.with_context("benchmark");
  }
  {
    std::unique_lock<std::mutex> lock(tracker->mutex);
    tracker->done.wait(lock, [&] { return tracker->num_finished == options.num_prompts; });
  }
  const double elapsed = monotonic_seconds() - start_s;
  if (progress) progress->finish();
  std::lock_guard<std::mutex> lock(tracker->mutex);
  if (!tracker->error.empty()) return Status::error("benchmark: a request failed: " + tracker->error);
  result.outputs = std::move(tracker->outputs);
  result.num_requests = options.num_prompts;
  result.elapsed_s = elapsed;
  result.prompt_tokens = static_cast<int64_t>(options.num_prompts) * options.input_len;
  result.output_tokens = tracker->output_tokens;
  result.output_tokens_per_s = static_cast<double>(result.output_tokens) / elapsed;
  result.total_tokens_per_s = static_cast<double>(result.output_tokens + result.prompt_tokens) / elapsed;
  result.requests_per_s = options.num_prompts / elapsed;
  result.ttft_ms = summarize_latencies(tracker->ttft_ms);
  result.itl_ms = summarize_latencies(tracker->itl_ms);
  return result;
}

}  // namespace kiln
