#include "tokenizer/byte_level.h"

#include "base/utf8.h"

namespace kiln::tokenizer {

ByteLevelAlphabet::ByteLevelAlphabet() {
  byte_of_char_.fill(-1);
  char32_t next_extra = 0x100;
  for (int byte = 0; byte < 256; ++byte) {
    const bool printable = (byte >= 33 && byte <= 126) || (byte >= 161 && byte <= 172) ||
                           (byte >= 174 && byte <= 255);
    const char32_t code_point = printable ? static_cast<char32_t>(byte) : next_extra++;
    char_of_byte_[byte] = code_point;
    byte_of_char_[code_point] = byte;
  }
}

std::optional<std::string> ByteLevelAlphabet::decode(std::string_view token) const {
  std::string bytes;
  bytes.reserve(token.size());
  size_t pos = 0;
  while (pos < token.size()) {
    size_t prefix;
    if (utf8_sequence_length(token.substr(pos), &prefix) == 0) return std::nullopt;
    const char32_t code_point = next_code_point(token, &pos);
    if (code_point >= byte_of_char_.size() || byte_of_char_[code_point] < 0) return std::nullopt;
    bytes.push_back(static_cast<char>(byte_of_char_[code_point]));
  }
  return bytes;
}

std::string ByteLevelAlphabet::encode(std::string_view bytes) const {
  std::string text;
  text.reserve(bytes.size() * 2);
  for (unsigned char byte : bytes) append_utf8(char_of_byte_[byte], &text);
  return text;
}

}  // namespace kiln::tokenizer
