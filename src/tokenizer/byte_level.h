// The GPT-2 byte-level alphabet: every byte maps to one printable code point, so that BPE
// vocabularies can be written as text. Bytes 33-126, 161-172 and 174-255 map to themselves; the
// other 68 bytes map to U+0100 and up in byte order (" " is "Ġ", "\n" is "Ċ").
#pragma once

#include <array>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::tokenizer {

class ByteLevelAlphabet {
 public:
  ByteLevelAlphabet();

  // The code point that stands for `byte`.
  char32_t char_of(unsigned char byte) const { return char_of_byte_[byte]; }

  // Raw bytes of a vocabulary token written in the alphabet; nullopt when some character is
  // not in the alphabet (HF's ByteLevel decoder then keeps the token's UTF-8 as it is).
  std::optional<std::string> decode(std::string_view token) const;

  // The alphabet form of raw bytes (what HF's ByteLevel pre-tokenizer produces).
  std::string encode(std::string_view bytes) const;

 private:
  std::array<char32_t, 256> char_of_byte_;
  // Inverse of char_of_byte_ for code points below 0x144 (the largest one used), -1 elsewhere.
  std::array<int, 0x144> byte_of_char_;
};

}  // namespace kiln::tokenizer
