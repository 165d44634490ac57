// The engine as the layers above it (server, cli, bench) see it: submit a tokenized request and
// receive its outputs; abort it; read counters for logs and /metrics. Thread-safe. HTTP and JSON
// never cross this line; the engine never sees sockets.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/request_output.h"
#include "engine/sampling_params.h"

namespace kiln {

struct EngineRequest {
  std::string request_id;  // unique among live requests
  std::vector<int32_t> prompt_token_ids;
  SamplingParams sampling;
  int priority = 0;  // lower runs first (vLLM's convention); FCFS among equals
  // Whether its sequences may draft when the engine speculates (the latency benchmark's plain
  // runs turn it off).
  bool speculative = true;
  double arrival_time_s = 0;  // monotonic_seconds() when the request arrived; 0 = now
};

// Called for every output of the request, from an engine-owned thread, in order; the last call
// has finished set. It must not block: post the output to the consumer's own queue or executor.
using OutputCallback = std::function<void(RequestOutput)>;

struct EngineStats {
  int num_running = 0;
  int num_waiting = 0;
  double kv_cache_usage = 0;  // 0..1, blocks in use / usable blocks
  int64_t num_blocks = 0;
  int block_size = 0;
  int max_model_len = 0;
  int64_t prompt_tokens_total = 0;
  int64_t generation_tokens_total = 0;
  int64_t num_preemptions_total = 0;
  int64_t prefix_cache_queries_tokens_total = 0;
  int64_t prefix_cache_hits_tokens_total = 0;
  // Speculative decoding, as vLLM's spec_decode counters: drafts verified, tokens drafted and
  // accepted, and per draft position how many were accepted ([num_speculative_tokens]; empty
  // when speculative decoding is off).
  int64_t spec_decode_num_drafts = 0;
  int64_t spec_decode_num_draft_tokens = 0;
  int64_t spec_decode_num_accepted_tokens = 0;
  std::vector<int64_t> spec_decode_num_accepted_tokens_per_pos;
};

class EngineClient {
 public:
  virtual ~EngineClient() = default;
  // Fails (without calling on_output) when the request can never run, e.g. its prompt plus
  // max_tokens exceeds max_model_len, or the engine is shutting down.
  virtual Status submit(EngineRequest request, OutputCallback on_output) = 0;
  // Frees the request's KV blocks within the next step; its callback gets a final output with
  // FinishReason::kAbort unless it already finished. Unknown ids are ignored.
  virtual void abort(const std::string& request_id) = 0;
  virtual EngineStats stats() const = 0;
};

}  // namespace kiln
