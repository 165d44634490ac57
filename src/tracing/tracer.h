// What the server needs to trace requests: the sink that exports spans, fresh ids (locked: HTTP
// threads share one tracer) and whether detailed traces were asked for
// (--collect-detailed-traces: child spans for the queue, prefill and decode phases).
#pragma once

#include <mutex>

#include "tracing/span.h"
#include "tracing/trace_context.h"

namespace kiln::tracing {

class Tracer {
 public:
  Tracer(SpanSink* sink, bool detailed) : sink_(sink), detailed_(detailed) {}

  bool detailed() const { return detailed_; }
  void submit(SpanData span) { sink_->submit(std::move(span)); }
  TraceId new_trace_id() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_.trace_id();
  }
  SpanId new_span_id() {
    std::lock_guard<std::mutex> lock(mutex_);
    return ids_.span_id();
  }

 private:
  SpanSink* sink_;
  bool detailed_;
  std::mutex mutex_;
  IdGenerator ids_;
};

}  // namespace kiln::tracing
