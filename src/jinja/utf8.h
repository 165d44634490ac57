// UTF-8 helpers: Python indexes, slices and measures str by code point, not by byte.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace kiln::jinja {

void append_utf8(std::string& out, uint32_t code_point);
// Byte offset where each code point starts, plus a final entry equal to text.size().
// Invalid bytes count as one code point each, so the result is always usable for slicing.
std::vector<size_t> code_point_offsets(const std::string& text);
size_t code_point_count(const std::string& text);

}  // namespace kiln::jinja

namespace kiln::jinja {

// Python's str.isspace() for one code point.
bool is_python_space(uint32_t code_point);
// Decodes the code point at text[offset] (offset from code_point_offsets).
uint32_t decode_at(const std::string& text, size_t offset);
// Python str.strip()/lstrip()/rstrip(): with no chars, Unicode whitespace; else any code point
// of chars.
std::string python_strip(const std::string& text, const std::string* chars, bool left, bool right);

}  // namespace kiln::jinja
