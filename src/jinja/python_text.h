// Python's str semantics the interpreter needs beyond plain UTF-8 (base/utf8.h): what
// str.isspace() calls whitespace, and str.strip()/lstrip()/rstrip().
#pragma once

#include <cstdint>
#include <string>

namespace kiln::jinja {

// Python's str.isspace() for one code point.
bool is_python_space(uint32_t code_point);
// Python str.strip()/lstrip()/rstrip(): with no chars, Unicode whitespace; else any code point
// of chars.
std::string python_strip(const std::string& text, const std::string* chars, bool left, bool right);

}  // namespace kiln::jinja
