#include "tracing/otlp_encoder.h"

#include <cstring>

namespace kiln::tracing {
namespace {

// Protobuf wire format: varints, length-delimited fields, fixed 64-bit fields.
class Writer {
 public:
  void varint(uint64_t value) {
    while (value >= 0x80) {
      out_.push_back(static_cast<char>((value & 0x7f) | 0x80));
      value >>= 7;
    }
    out_.push_back(static_cast<char>(value));
  }
  void tag(int field, int wire_type) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire_type)); }
  void bytes_field(int field, const void* data, size_t size) {
    tag(field, 2);
    varint(size);
    out_.append(static_cast<const char*>(data), size);
  }
  void string_field(int field, const std::string& value) { bytes_field(field, value.data(), value.size()); }
  void message_field(int field, const Writer& message) { string_field(field, message.out_); }
  void varint_field(int field, uint64_t value) {
    tag(field, 0);
    varint(value);
  }
  void fixed64_field(int field, uint64_t value) {
    tag(field, 1);
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(value >> (8 * i)));
  }
  void double_field(int field, double value) {
    uint64_t bits;
    std::memcpy(&bits, &value, sizeof bits);
    fixed64_field(field, bits);
  }
  std::string& str() { return out_; }

 private:
  std::string out_;
};

// common.proto: AnyValue { string_value = 1; bool_value = 2; int64_value = 3; double_value = 4;
// ArrayValue array_value = 5 }, ArrayValue { repeated AnyValue values = 1 }.
Writer any_value(const AttributeValue& value) {
  Writer w;
  if (const auto* s = std::get_if<std::string>(&value)) {
    w.string_field(1, *s);
  } else if (const auto* b = std::get_if<bool>(&value)) {
    w.varint_field(2, *b ? 1 : 0);
  } else if (const auto* i = std::get_if<int64_t>(&value)) {
    w.varint_field(3, static_cast<uint64_t>(*i));
  } else if (const auto* d = std::get_if<double>(&value)) {
    w.double_field(4, *d);
  } else if (const auto* list = std::get_if<std::vector<std::string>>(&value)) {
    Writer array;
    for (const std::string& item : *list) array.message_field(1, any_value(item));
    w.message_field(5, array);
  }
  return w;
}

// KeyValue { string key = 1; AnyValue value = 2 }
Writer key_value(const Attribute& attribute) {
  Writer w;
  w.string_field(1, attribute.key);
  w.message_field(2, any_value(attribute.value));
  return w;
}

bool all_zero(const uint8_t* bytes, size_t size) {
  for (size_t i = 0; i < size; ++i) {
    if (bytes[i] != 0) return false;
  }
  return true;
}

// trace.proto: Span { bytes trace_id = 1; bytes span_id = 2; string trace_state = 3;
// bytes parent_span_id = 4; string name = 5; SpanKind kind = 6; fixed64 start_time_unix_nano = 7;
// fixed64 end_time_unix_nano = 8; repeated KeyValue attributes = 9; Status status = 15 },
// Status { string message = 2; StatusCode code = 3 }.
Writer span(const SpanData& data) {
  Writer w;
  w.bytes_field(1, data.trace_id.data(), data.trace_id.size());
  w.bytes_field(2, data.span_id.data(), data.span_id.size());
  if (!data.trace_state.empty()) w.string_field(3, data.trace_state);
  if (!all_zero(data.parent_span_id.data(), data.parent_span_id.size())) {
    w.bytes_field(4, data.parent_span_id.data(), data.parent_span_id.size());
  }
  w.string_field(5, data.name);
  w.varint_field(6, static_cast<uint64_t>(data.kind));
  w.fixed64_field(7, data.start_unix_ns);
  w.fixed64_field(8, data.end_unix_ns);
  for (const Attribute& attribute : data.attributes) w.message_field(9, key_value(attribute));
  if (data.status != SpanStatus::kUnset) {
    Writer status;
    if (!data.status_message.empty()) status.string_field(2, data.status_message);
    status.varint_field(3, static_cast<uint64_t>(data.status));
    w.message_field(15, status);
  }
  return w;
}

}  // namespace

// ExportTraceServiceRequest { repeated ResourceSpans resource_spans = 1 };
// ResourceSpans { Resource resource = 1; repeated ScopeSpans scope_spans = 2 };
// Resource { repeated KeyValue attributes = 1 };
// ScopeSpans { InstrumentationScope scope = 1; repeated Span spans = 2 };
// InstrumentationScope { string name = 1; string version = 2 }.
std::string encode_export_request(const Resource& resource, const std::string& scope_version,
                                  const std::vector<SpanData>& spans) {
  Writer resource_message;
  for (const Attribute& attribute : resource.attributes) resource_message.message_field(1, key_value(attribute));
  Writer scope;
  scope.string_field(1, "kiln");
  if (!scope_version.empty()) scope.string_field(2, scope_version);
  Writer scope_spans;
  scope_spans.message_field(1, scope);
  for (const SpanData& data : spans) scope_spans.message_field(2, span(data));
  Writer resource_spans;
  resource_spans.message_field(1, resource_message);
  resource_spans.message_field(2, scope_spans);
  Writer request;
  request.message_field(1, resource_spans);
  return std::move(request.str());
}

}  // namespace kiln::tracing
