// One finished span as kiln exports it: W3C trace context ids, times, attributes and status,
// plain data (no OpenTelemetry SDK). The OTLP encoder (otlp_encoder.h) writes these as
// opentelemetry.proto.trace.v1.Span.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace kiln::tracing {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

// AnyValue's kinds that kiln's attributes use.
using AttributeValue = std::variant<std::string, bool, int64_t, double, std::vector<std::string>>;

struct Attribute {
  std::string key;
  AttributeValue value;
};

enum class SpanKind { kInternal = 1, kServer = 2 };  // OTLP's numbering
enum class SpanStatus { kUnset = 0, kOk = 1, kError = 2 };

struct SpanData {
  TraceId trace_id{};
  SpanId span_id{};
  SpanId parent_span_id{};  // all zero: a root span
  std::string trace_state;  // the W3C tracestate header, passed along unchanged
  std::string name;
  SpanKind kind = SpanKind::kInternal;
  uint64_t start_unix_ns = 0;
  uint64_t end_unix_ns = 0;
  std::vector<Attribute> attributes;
  SpanStatus status = SpanStatus::kUnset;
  std::string status_message;
};

// Where finished spans go; the exporter implements it. submit() must never block the caller.
class SpanSink {
 public:
  virtual ~SpanSink() = default;
  virtual void submit(SpanData span) = 0;
};

}  // namespace kiln::tracing
