#include "jinja/python_text.h"

#include <vector>

#include "base/utf8.h"

namespace kiln::jinja {

bool is_python_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85 || cp == 0xA0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string python_strip(const std::string& text, const std::string* chars, bool left, bool right) {
  std::vector<size_t> offsets = code_point_offsets(text);
  std::vector<uint32_t> strip_set;
  if (chars) {
    std::vector<size_t> c_offsets = code_point_offsets(*chars);
    for (size_t i = 0; i + 1 < c_offsets.size(); ++i) {
      strip_set.push_back(code_point_at(*chars, c_offsets[i]));
    }
  }
  auto strippable = [&](size_t index) {
    uint32_t cp = code_point_at(text, offsets[index]);
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
