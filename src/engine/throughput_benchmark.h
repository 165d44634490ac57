// The offline throughput benchmark behind `kiln bench throughput`, as vLLM's benchmark_throughput
// with the random dataset: num_prompts prompts of input_len random token ids, each generating
// exactly output_len tokens (ignore_eos), all submitted at once to an EngineClient. Measures
// wall time, time to first token and inter-token latency from the output callbacks.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "base/status.h"
#include "engine/engine_client.h"
#include "grammar/compiled_grammar.h"

namespace kiln {

struct ThroughputBenchmarkOptions {
  int num_prompts = 100;
  int input_len = 128;
  int output_len = 128;
  int vocab_size = 0;  // prompt token ids are drawn from [0, vocab_size)
  uint64_t seed = 0;
  bool show_progress = true;
  // Structured outputs: every output follows this grammar (null: free). Outputs run output_len
  // tokens with ignore_eos, so it should never force an end (e.g. a repeated record).
  std::shared_ptr<const grammar::CompiledGrammar> grammar;
  float temperature = 1.0f;  // 0: greedy
  bool speculative = true;   // EngineRequest::speculative
  bool keep_tokens = false;  // return the prompts and outputs (ThroughputResult::prompts, outputs)
};

struct LatencySummary {
  double mean = 0;
  double p50 = 0;
  double p99 = 0;
};

struct ThroughputResult {
  int num_requests = 0;
  double elapsed_s = 0;
  int64_t prompt_tokens = 0;
  int64_t output_tokens = 0;
  double output_tokens_per_s = 0;
  double total_tokens_per_s = 0;
  double requests_per_s = 0;
  LatencySummary ttft_ms;
  // Per output token after the first: an output carrying n tokens (speculative decoding) counts
  // its gap divided by n, n times, so the mean is the time per output token.
  LatencySummary itl_ms;
  std::vector<std::vector<int32_t>> prompts, outputs;  // with keep_tokens, by request
};

// Mean and nearest-rank-interpolated percentiles (numpy's default) of `values`; zeros if empty.
LatencySummary summarize_latencies(std::vector<double> values);

Result<ThroughputResult> run_throughput_benchmark(EngineClient* engine,
                                                  const ThroughputBenchmarkOptions& options);

}  // namespace kiln
