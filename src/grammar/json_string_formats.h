// Regular expressions for the JSON Schema string formats the grammar enforces. Each matches a
// subset of what validators (ajv-formats, python-jsonschema) accept, so every generated value
// validates: dates are real calendar dates (leap years included), times follow RFC 3339.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace kiln::grammar {

// Nullopt for a format that is only an annotation here.
std::optional<std::string> string_format_regex(std::string_view format);

}  // namespace kiln::grammar
