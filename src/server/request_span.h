// The span of one engine request as vLLM records it (its llm_request span: gen_ai.request.*,
// gen_ai.usage.*, gen_ai.latency.* attributes), with the W3C context the request came with, and
// with --collect-detailed-traces child spans for its queue, prefill and decode phases.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "engine/sampling_params.h"
#include "tracing/span.h"
#include "tracing/trace_context.h"
#include "tracing/tracer.h"

namespace kiln::server {

// Monotonic times (seconds) of one engine request; unset phases were never reached.
struct RequestTiming {
  double arrival_s = 0;
  double end_s = 0;
  std::optional<double> queue_s;         // the engine's queue time (queued -> first scheduled)
  std::optional<double> first_token_s;
  std::optional<double> last_token_s;
  double unix_minus_monotonic_s = 0;     // converts the above to wall-clock time
};

struct RequestSpanInfo {
  std::string request_id;
  std::string model;
  const SamplingParams* sampling = nullptr;
  int num_prompt_tokens = 0;
  int num_completion_tokens = 0;
  std::string finish_reason;  // stop, length, abort, error
  std::string error;          // the failure when finish_reason is error
};

// The request's span first, then (detailed) its phase spans.
std::vector<tracing::SpanData> make_request_spans(const RequestSpanInfo& info, const RequestTiming& timing,
                                                  const std::optional<tracing::TraceContext>& context,
                                                  tracing::Tracer& tracer);

}  // namespace kiln::server
