#include "jinja/utf8.h"

namespace kiln::jinja {
namespace {

size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if ((lead >> 5) == 0x6) return 2;
  if ((lead >> 4) == 0xE) return 3;
  if ((lead >> 3) == 0x1E) return 4;
  return 1;
}

}  // namespace

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

std::vector<size_t> code_point_offsets(const std::string& text) {
  std::vector<size_t> offsets;
  offsets.reserve(text.size() + 1);
  size_t i = 0;
  while (i < text.size()) {
    offsets.push_back(i);
    size_t len = sequence_length(static_cast<unsigned char>(text[i]));
    if (i + len > text.size()) len = 1;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(text[i + k]) & 0xC0) != 0x80) {
        len = 1;
        break;
      }
    }
    i += len;
  }
  offsets.push_back(text.size());
  return offsets;
}

size_t code_point_count(const std::string& text) {
  size_t count = 0;
  for (unsigned char c : text) {
    if ((c & 0xC0) != 0x80) ++count;
  }
  return count;
}

}  // namespace kiln::jinja

namespace kiln::jinja {

bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

uint32_t decode_at(const std::string& text, size_t offset) {
  unsigned char lead = static_cast<unsigned char>(text[offset]);
  size_t len = sequence_length(lead);
  if (offset + len > text.size()) return lead;
  uint32_t cp = len == 1 ? lead : (len == 2 ? lead & 0x1F : (len == 3 ? lead & 0x0F : lead & 0x07));
  for (size_t k = 1; k < len; ++k) {
    unsigned char c = static_cast<unsigned char>(text[offset + k]);
    if ((c & 0xC0) != 0x80) return lead;
    cp = (cp << 6) | (c & 0x3F);
  }
  return cp;
}

std::string python_strip(const std::string& text, const std::string* chars, bool left, bool right) {
  std::vector<size_t> offsets = code_point_offsets(text);
  std::vector<uint32_t> strip_set;
  if (chars) {
    std::vector<size_t> c_offsets = code_point_offsets(*chars);
    for (size_t i = 0; i + 1 < c_offsets.size(); ++i) {
      strip_set.push_back(decode_at(*chars, c_offsets[i]));
    }
  }
  auto strippable = [&](size_t index) {
    uint32_t cp = decode_at(text, offsets[index]);
    if (!chars) return is_python_space(cp);
    for (uint32_t s : strip_set) {
      if (s == cp) return true;
    }
    return false;
  };
  size_t n = offsets.size() - 1;
  size_t begin = 0;
  size_t end = n;
  if (left) {
    while (begin < end && strippable(begin)) ++begin;
  }
  if (right) {
    while (end > begin && strippable(end - 1)) --end;
  }
  return text.substr(offsets[begin], offsets[end] - offsets[begin]);
}

}  // namespace kiln::jinja
