#include "base/utf8.h"

#include <cstdint>

namespace kiln {
namespace {

bool is_continuation(uint8_t byte) { return (byte & 0xC0) == 0x80; }

// The allowed range of the second byte depends on the lead byte (Unicode table 3-7): this
// excludes overlong forms, surrogates and code points above U+10FFFF.
bool second_byte_ok(uint8_t lead, uint8_t second) {
  switch (lead) {
    case 0xE0: return second >= 0xA0 && second <= 0xBF;
    case 0xED: return second >= 0x80 && second <= 0x9F;
    case 0xF0: return second >= 0x90 && second <= 0xBF;
    case 0xF4: return second >= 0x80 && second <= 0x8F;
    default: return is_continuation(second);
  }
}

size_t expected_length(uint8_t lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

}  // namespace

size_t utf8_sequence_length(std::string_view bytes, size_t* valid_prefix) {
  const auto lead = static_cast<uint8_t>(bytes[0]);
  const size_t length = expected_length(lead);
  if (length <= 1) {
    *valid_prefix = 1;
    return length;
  }
  size_t i = 1;
  for (; i < length && i < bytes.size(); ++i) {
    const auto byte = static_cast<uint8_t>(bytes[i]);
    if (i == 1 ? !second_byte_ok(lead, byte) : !is_continuation(byte)) break;
  }
  *valid_prefix = i;
  return i == length ? length : 0;
}

bool is_valid_utf8(std::string_view bytes) {
  size_t pos = 0;
  while (pos < bytes.size()) {
    // ASCII fast path, eight bytes at a time.
    while (pos + 8 <= bytes.size()) {
      uint64_t word;
      __builtin_memcpy(&word, bytes.data() + pos, 8);
      if (word & 0x8080808080808080ULL) break;
      pos += 8;
    }
    if (pos >= bytes.size()) break;
    if (static_cast<uint8_t>(bytes[pos]) < 0x80) {
      ++pos;
      continue;
    }
    size_t prefix;
    const size_t length = utf8_sequence_length(bytes.substr(pos), &prefix);
    if (length == 0) return false;
    pos += length;
  }
  return true;
}

void append_utf8_lossy(std::string_view bytes, std::string* out) {
  out->reserve(out->size() + bytes.size());
  size_t pos = 0;
  while (pos < bytes.size()) {
    const size_t start = pos;
    while (pos < bytes.size() && static_cast<uint8_t>(bytes[pos]) < 0x80) ++pos;
    size_t prefix = 0;
    size_t length = 0;
    while (pos < bytes.size() &&
           (length = utf8_sequence_length(bytes.substr(pos), &prefix)) != 0) {
      pos += length;
    }
    out->append(bytes.substr(start, pos - start));
    if (pos < bytes.size()) {
      out->append(kReplacementChar);
      pos += prefix;
    }
  }
}

size_t utf8_incomplete_tail(std::string_view bytes) {
  // A sequence is at most 4 bytes, so only the last 3 bytes can start an incomplete one.
  const size_t from = bytes.size() > 3 ? bytes.size() - 3 : 0;
  for (size_t start = from; start < bytes.size(); ++start) {
    if (expected_length(static_cast<uint8_t>(bytes[start])) < 2) continue;
    size_t prefix;
    const std::string_view tail = bytes.substr(start);
    if (utf8_sequence_length(tail, &prefix) == 0 && prefix == tail.size()) return tail.size();
  }
  return 0;
}

bool decode_utf8(std::string_view bytes, size_t* pos, char32_t* code_point) {
  if (*pos >= bytes.size()) return false;
  size_t prefix = 0;
  const size_t length = utf8_sequence_length(bytes.substr(*pos), &prefix);
  if (length == 0) return false;
  const auto lead = static_cast<uint8_t>(bytes[*pos]);
  char32_t value = length == 1 ? lead : length == 2 ? (lead & 0x1F) : length == 3 ? (lead & 0x0F) : (lead & 0x07);
  for (size_t i = 1; i < length; ++i) value = (value << 6) | (static_cast<uint8_t>(bytes[*pos + i]) & 0x3F);
  *code_point = value;
  *pos += length;
  return true;
}

char32_t next_code_point(std::string_view bytes, size_t* pos) {
  char32_t code_point = 0;
  if (decode_utf8(bytes, pos, &code_point)) return code_point;
  return static_cast<uint8_t>(bytes[(*pos)++]);
}

void append_utf8(char32_t code_point, std::string* out) {
  if (code_point < 0x80) {
    out->push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

std::vector<size_t> code_point_offsets(std::string_view text) {
  std::vector<size_t> offsets;
  offsets.reserve(text.size() + 1);
  for (size_t pos = 0; pos < text.size();) {
    offsets.push_back(pos);
    next_code_point(text, &pos);
  }
  offsets.push_back(text.size());
  return offsets;
}

size_t code_point_count(std::string_view text) {
  size_t count = 0;
  for (size_t pos = 0; pos < text.size(); ++count) next_code_point(text, &pos);
  return count;
}

}  // namespace kiln
