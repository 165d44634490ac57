// Character classes of Rust's char, which HF tokenizers uses for added-token lstrip/rstrip
// (char::is_whitespace) and single_word (char::is_alphanumeric).
#pragma once

namespace kiln::tokenizer {

// Unicode White_Space, exactly.
inline bool is_unicode_whitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
         c == 0x205F || c == 0x3000;
}

// Alphabetic or numeric. Exact for ASCII and Latin-1; above that an approximation that counts
// everything except whitespace and the punctuation/symbol blocks as part of a word (only
// single_word added tokens use it, and no model kiln serves has one next to such text).
inline bool is_unicode_alphanumeric(char32_t c) {
  if (c < 0x80) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
  }
  if (c < 0x100) return c == 0xAA || c == 0xB2 || c == 0xB3 || c == 0xB5 || c == 0xB9 ||
                        c == 0xBA || (c >= 0xBC && c <= 0xBE) || (c >= 0xC0 && c != 0xD7 && c != 0xF7);
  if (is_unicode_whitespace(c)) return false;
  const bool punctuation_or_symbol = (c >= 0x2000 && c <= 0x206F) ||  // general punctuation
                                     (c >= 0x20A0 && c <= 0x214F) ||  // currency, letterlike
                                     (c >= 0x2190 && c <= 0x2BFF) ||  // arrows .. misc symbols
                                     (c >= 0x3000 && c <= 0x303F) ||  // CJK punctuation
                                     (c >= 0xFE30 && c <= 0xFE4F) ||  // CJK compatibility forms
                                     (c >= 0xFF00 && c <= 0xFF0F) ||  // fullwidth punctuation
                                     (c >= 0x1F000 && c <= 0x1FAFF);  // emoji and pictographs
  return !punctuation_or_symbol;
}

}  // namespace kiln::tokenizer
