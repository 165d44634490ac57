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

}  // namespace kiln::grammar
