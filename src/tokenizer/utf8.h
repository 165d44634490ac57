// UTF-8 helpers with the exact semantics of Rust's String::from_utf8_lossy, which HF tokenizers
// uses to turn decoded bytes into text: each maximal invalid subpart becomes one U+FFFD.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace kiln::tokenizer {

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

// Decodes one code point at bytes[*pos] of valid UTF-8 and advances *pos.
char32_t decode_utf8(std::string_view bytes, size_t* pos);

// Appends the UTF-8 encoding of `code_point` to *out.
void append_utf8(char32_t code_point, std::string* out);

}  // namespace kiln::tokenizer
