#include "grammar/utf8_ranges.h"

namespace kiln::grammar {
namespace {

int encoded_length(uint32_t c) { return c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4; }

int encode(uint32_t c, uint8_t* out) {
  const int n = encoded_length(c);
  switch (n) {
    case 1: out[0] = static_cast<uint8_t>(c); break;
    case 2:
      out[0] = static_cast<uint8_t>(0xC0 | (c >> 6));
      out[1] = static_cast<uint8_t>(0x80 | (c & 0x3F));
      break;
    case 3:
      out[0] = static_cast<uint8_t>(0xE0 | (c >> 12));
      out[1] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | (c & 0x3F));
      break;
    default:
      out[0] = static_cast<uint8_t>(0xF0 | (c >> 18));
      out[1] = static_cast<uint8_t>(0x80 | ((c >> 12) & 0x3F));
      out[2] = static_cast<uint8_t>(0x80 | ((c >> 6) & 0x3F));
      out[3] = static_cast<uint8_t>(0x80 | (c & 0x3F));
      break;
  }
  return n;
}

// Splits [first, last] until every byte position of the encodings is one contiguous range
// independent of the others (the construction of Russ Cox's and Rust's utf8-ranges).
void split(uint32_t first, uint32_t last, std::vector<Utf8Sequence>* out) {
  if (first > last) return;
  if (first <= 0xDFFF && last >= 0xD800) {
    split(first, 0xD7FF, out);
    split(0xE000, last, out);
    return;
  }
  for (uint32_t boundary : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (first <= boundary && last > boundary) {
      split(first, boundary, out);
      split(boundary + 1, last, out);
      return;
    }
  }
  const int n = encoded_length(first);
  for (int i = 1; i < n; ++i) {
    const uint32_t mask = (1u << (6 * i)) - 1;
    if ((first & ~mask) != (last & ~mask)) {
      if ((first & mask) != 0) {
        split(first, first | mask, out);
        split((first | mask) + 1, last, out);
        return;
      }
      if ((last & mask) != mask) {
        split(first, (last & ~mask) - 1, out);
        split(last & ~mask, last, out);
        return;
      }
    }
  }
  uint8_t a[4], b[4];
  encode(first, a);
  encode(last, b);
  Utf8Sequence seq;
  seq.length = n;
  for (int i = 0; i < n; ++i) seq.bytes[i] = ByteRange{a[i], b[i]};
  out->push_back(seq);
}

}  // namespace

std::vector<Utf8Sequence> utf8_sequences(const std::vector<CodepointRange>& ranges) {
  std::vector<Utf8Sequence> out;
  for (const CodepointRange& r : normalize_ranges(ranges, true)) split(r.first, r.last, &out);
  return out;
}

void append_utf8(uint32_t codepoint, std::string* out) {
  uint8_t buffer[4];
  const int n = encode(codepoint, buffer);
  out->append(reinterpret_cast<const char*>(buffer), static_cast<size_t>(n));
}

bool decode_utf8(const std::string& text, size_t* pos, uint32_t* codepoint) {
  const size_t i = *pos;
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(text[k]); };
  const uint8_t b0 = byte(i);
  int n;
  uint32_t c;
  if (b0 < 0x80) { n = 1; c = b0; }
  else if (b0 >= 0xC2 && b0 < 0xE0) { n = 2; c = b0 & 0x1F; }
  else if (b0 >= 0xE0 && b0 < 0xF0) { n = 3; c = b0 & 0x0F; }
  else if (b0 >= 0xF0 && b0 < 0xF5) { n = 4; c = b0 & 0x07; }
  else return false;
  if (i + static_cast<size_t>(n) > text.size()) return false;
  for (int k = 1; k < n; ++k) {
    const uint8_t b = byte(i + static_cast<size_t>(k));
    if ((b & 0xC0) != 0x80) return false;
    c = (c << 6) | (b & 0x3F);
  }
  if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 || c > kMaxCodepoint)) || (c >= 0xD800 && c <= 0xDFFF)) {
    return false;
  }
  *codepoint = c;
  *pos = i + static_cast<size_t>(n);
  return true;
}

}  // namespace kiln::grammar
