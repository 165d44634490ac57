// Code point ranges as UTF-8 byte patterns: each range of scalar values becomes a few sequences
// of byte ranges (1 to 4 long), so that a character class is matched byte by byte.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/utf8.h"  // append_utf8, decode_utf8
#include "grammar/grammar.h"

namespace kiln::grammar {

struct ByteRange {
  uint8_t first = 0;
  uint8_t last = 0;
};

// One UTF-8 encoding pattern: a code point matches when byte i lies in bytes[i] for every i.
struct Utf8Sequence {
  ByteRange bytes[4];
  int length = 0;
};

// The sequences whose union is exactly the UTF-8 encodings of `ranges` (surrogates excluded).
std::vector<Utf8Sequence> utf8_sequences(const std::vector<CodepointRange>& ranges);

}  // namespace kiln::grammar
