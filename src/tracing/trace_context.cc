#include "tracing/trace_context.h"

#include <algorithm>
#include <chrono>

namespace kiln::tracing {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;  // the spec allows lowercase hex only
}

template <size_t N>
bool parse_hex(std::string_view text, std::array<uint8_t, N>* out) {
  if (text.size() != 2 * N) return false;
  for (size_t i = 0; i < N; ++i) {
    const int high = hex_value(text[2 * i]);
    const int low = hex_value(text[2 * i + 1]);
    if (high < 0 || low < 0) return false;
    (*out)[i] = static_cast<uint8_t>(high * 16 + low);
  }
  return std::any_of(out->begin(), out->end(), [](uint8_t b) { return b != 0; });
}

}  // namespace

std::optional<TraceContext> parse_traceparent(std::string_view header, std::string_view tracestate) {
  // version "-" trace-id "-" parent-id "-" flags; later versions may append "-..." fields.
  if (header.size() < 55 || header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  const int v_high = hex_value(header[0]);
  const int v_low = hex_value(header[1]);
  if (v_high < 0 || v_low < 0 || (v_high == 15 && v_low == 15)) return std::nullopt;
  if (v_high == 0 && v_low == 0 && header.size() != 55) return std::nullopt;
  if (header.size() > 55 && header[55] != '-') return std::nullopt;
  TraceContext context;
  if (!parse_hex(header.substr(3, 32), &context.trace_id)) return std::nullopt;
  if (!parse_hex(header.substr(36, 16), &context.parent_span_id)) return std::nullopt;
  const int f_high = hex_value(header[53]);
  const int f_low = hex_value(header[54]);
  if (f_high < 0 || f_low < 0) return std::nullopt;
  context.sampled = (f_low & 1) != 0;
  context.trace_state = std::string(tracestate.substr(0, 512));  // the spec's size bound
  return context;
}

std::string to_hex(const uint8_t* bytes, size_t size) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * size, '0');
  for (size_t i = 0; i < size; ++i) {
    out[2 * i] = kDigits[bytes[i] >> 4];
    out[2 * i + 1] = kDigits[bytes[i] & 15];
  }
  return out;
}

IdGenerator::IdGenerator()
    : rng_(std::random_device{}() ^ static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count())) {}

TraceId IdGenerator::trace_id() {
  TraceId id{};
  do {
    for (size_t i = 0; i < id.size(); i += 8) {
      const uint64_t word = rng_();
      for (size_t j = 0; j < 8; ++j) id[i + j] = static_cast<uint8_t>(word >> (8 * j));
    }
  } while (std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; }));
  return id;
}

SpanId IdGenerator::span_id() {
  SpanId id{};
  do {
    const uint64_t word = rng_();
    for (size_t j = 0; j < 8; ++j) id[j] = static_cast<uint8_t>(word >> (8 * j));
  } while (std::all_of(id.begin(), id.end(), [](uint8_t b) { return b == 0; }));
  return id;
}

}  // namespace kiln::tracing
