// UTF-8, the one copy every layer uses: validation and lossy conversion with the exact semantics
// of Rust's String::from_utf8_lossy (which HF tokenizers uses to turn decoded bytes into text:
// each maximal invalid subpart becomes one U+FFFD), decoding, encoding and code point offsets.
// Valid means Unicode's definition: no overlong forms, no surrogates, nothing above U+10FFFF.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace kiln {

// The replacement character U+FFFD in UTF-8.
inline constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";

// Length of the valid UTF-8 sequence starting at bytes[0] (1-4), or 0 when it is invalid.
// Sets *valid_prefix to the length of the longest prefix that is the start of a valid sequence
// (the "maximal subpart": at least 1 for any byte), whether or not the sequence is complete.
size_t utf8_sequence_length(std::string_view bytes, size_t* valid_prefix);

// True when `bytes` is entirely valid UTF-8.
bool is_valid_utf8(std::string_view bytes);

// Appends `bytes` to *out with every maximal invalid subpart replaced by U+FFFD.
void append_utf8_lossy(std::string_view bytes, std::string* out);

inline std::string utf8_lossy(std::string_view bytes) {
  std::string out;
  append_utf8_lossy(bytes, &out);
  return out;
}

// Number of bytes at the end of `bytes` that form the start of a valid but incomplete
// sequence (0-3): the part a streaming decoder must hold back until more bytes arrive.
size_t utf8_incomplete_tail(std::string_view bytes);

// Decodes the valid sequence at bytes[*pos] into *code_point and advances *pos past it; false,
// changing nothing, when the bytes there are not a valid sequence (or are cut off).
bool decode_utf8(std::string_view bytes, size_t* pos, char32_t* code_point);

// The code point at bytes[*pos], advancing *pos, for text that should be UTF-8: an invalid byte
// stands for itself (U+0000..U+00FF) and counts as one code point.
char32_t next_code_point(std::string_view bytes, size_t* pos);

// The code point that starts at byte `offset` (an entry of code_point_offsets).
inline char32_t code_point_at(std::string_view text, size_t offset) { return next_code_point(text, &offset); }

// Appends the UTF-8 encoding of `code_point` (at most U+10FFFF) to *out.
void append_utf8(char32_t code_point, std::string* out);

// Byte offset where each code point starts, plus a final entry equal to text.size(). Each
// invalid byte counts as one code point, so the result is always usable for slicing.
std::vector<size_t> code_point_offsets(std::string_view text);

// Code points in `text` (invalid bytes one each), as Python's len() of the decoded str.
size_t code_point_count(std::string_view text);

}  // namespace kiln
