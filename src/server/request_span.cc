#include "server/request_span.h"

#include <cmath>

namespace kiln::server {
namespace {

uint64_t to_unix_ns(double monotonic_s, const RequestTiming& timing) {
  const double unix_s = monotonic_s + timing.unix_minus_monotonic_s;
  return unix_s <= 0 ? 0 : static_cast<uint64_t>(std::llround(unix_s * 1e9));
}

}  // namespace

std::vector<tracing::SpanData> make_request_spans(const RequestSpanInfo& info, const RequestTiming& timing,
                                                  const std::optional<tracing::TraceContext>& context,
                                                  tracing::Tracer& tracer) {
  using tracing::Attribute;
  tracing::SpanData span;
  span.trace_id = context ? context->trace_id : tracer.new_trace_id();
  if (context) {
    span.parent_span_id = context->parent_span_id;
    span.trace_state = context->trace_state;
  }
  span.span_id = tracer.new_span_id();
  span.name = "llm_request";
  span.kind = tracing::SpanKind::kServer;
  span.start_unix_ns = to_unix_ns(timing.arrival_s, timing);
  span.end_unix_ns = to_unix_ns(timing.end_s, timing);
  auto& a = span.attributes;
  a.push_back({"gen_ai.response.model", info.model});
  a.push_back({"gen_ai.request.id", info.request_id});
  if (info.sampling) {
    if (info.sampling->temperature) a.push_back({"gen_ai.request.temperature", static_cast<double>(*info.sampling->temperature)});
    if (info.sampling->top_p) a.push_back({"gen_ai.request.top_p", static_cast<double>(*info.sampling->top_p)});
    a.push_back({"gen_ai.request.max_tokens", static_cast<int64_t>(info.sampling->max_tokens)});
    a.push_back({"gen_ai.request.n", static_cast<int64_t>(info.sampling->n)});
  }
  a.push_back({"gen_ai.usage.prompt_tokens", static_cast<int64_t>(info.num_prompt_tokens)});
  a.push_back({"gen_ai.usage.completion_tokens", static_cast<int64_t>(info.num_completion_tokens)});
  a.push_back({"gen_ai.response.finish_reasons", std::vector<std::string>{info.finish_reason}});
  a.push_back({"gen_ai.latency.e2e", timing.end_s - timing.arrival_s});
  // vLLM: scheduled = queued + time in queue; prefill ends at the first token, decode at the last.
  std::optional<double> scheduled_s;
  if (timing.queue_s) {
    scheduled_s = timing.arrival_s + *timing.queue_s;
    a.push_back({"gen_ai.latency.time_in_queue", *timing.queue_s});
  }
  if (timing.first_token_s) {
    a.push_back({"gen_ai.latency.time_to_first_token", *timing.first_token_s - timing.arrival_s});
    if (scheduled_s) a.push_back({"gen_ai.latency.time_in_model_prefill", *timing.first_token_s - *scheduled_s});
    if (timing.last_token_s) {
      a.push_back({"gen_ai.latency.time_in_model_decode", *timing.last_token_s - *timing.first_token_s});
      if (scheduled_s) a.push_back({"gen_ai.latency.time_in_model_inference", *timing.last_token_s - *scheduled_s});
    }
  }
  if (info.finish_reason == "error") {
    span.status = tracing::SpanStatus::kError;
    span.status_message = info.error;
  }
  std::vector<tracing::SpanData> spans;
  spans.push_back(span);
  if (!tracer.detailed()) return spans;
  auto phase = [&](const char* name, double begin_s, double end_s) {
    tracing::SpanData child;
    child.trace_id = span.trace_id;
    child.parent_span_id = span.span_id;
    child.trace_state = span.trace_state;
    child.span_id = tracer.new_span_id();
    child.name = name;
    child.kind = tracing::SpanKind::kInternal;
    child.start_unix_ns = to_unix_ns(begin_s, timing);
    child.end_unix_ns = to_unix_ns(end_s, timing);
    child.attributes.push_back({"gen_ai.request.id", info.request_id});
    spans.push_back(std::move(child));
  };
  if (scheduled_s) phase("queue", timing.arrival_s, *scheduled_s);
  if (scheduled_s && timing.first_token_s) phase("prefill", *scheduled_s, *timing.first_token_s);
  if (timing.first_token_s && timing.last_token_s) phase("decode", *timing.first_token_s, *timing.last_token_s);
  return spans;
}

}  // namespace kiln::server
