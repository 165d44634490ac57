// W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent header a request
// arrives with, and fresh random ids for requests without one.
#pragma once

#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "tracing/span.h"

namespace kiln::tracing {

struct TraceContext {
  TraceId trace_id{};
  SpanId parent_span_id{};  // the caller's span
  bool sampled = true;
  std::string trace_state;
};

// "00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>"; nullopt when malformed, all-zero
// ids, or version ff (the spec says to ignore such headers and start a new trace).
std::optional<TraceContext> parse_traceparent(std::string_view header, std::string_view tracestate = {});

std::string to_hex(const uint8_t* bytes, size_t size);

// Random non-zero ids from one generator (the caller keeps it per thread or locked).
class IdGenerator {
 public:
  IdGenerator();
  TraceId trace_id();
  SpanId span_id();

 private:
  std::mt19937_64 rng_;
};

}  // namespace kiln::tracing
