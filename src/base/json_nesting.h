// A bound on how deeply JSON text nests arrays and objects, checked on the raw text before a
// parser sees it. nlohmann::json parses iteratively but copies, compares, dumps and (before
// 3.10) destroys values recursively, so ~50,000 nested brackets in a 100 KB request body or a
// model file overflowed the stack. Every JSON that comes from outside is checked first.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

namespace kiln {

// Nesting of requests: far deeper than any real tool schema or template argument.
inline constexpr int kMaxRequestJsonDepth = 128;
// Nesting of model files (config.json, safetensors headers, tokenizer files): a few levels.
inline constexpr int kMaxFileJsonDepth = 64;

// The byte offset of the first bracket that opens level max_depth + 1, or nullopt when the text
// nests no deeper than max_depth. Brackets inside strings do not count; the text need not be
// valid JSON (the parser reports that).
std::optional<size_t> find_json_nesting_over(std::string_view text, int max_depth);

}  // namespace kiln
