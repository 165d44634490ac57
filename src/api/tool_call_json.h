// Reading a tool call written as a JSON object by a model ({"name": "f", "arguments": {...}},
// or "parameters" for Llama 3), also while it is still being written: the scanner reports the
// name once its string is complete and the raw text of the arguments value as far as it goes,
// so a stream can send argument fragments that add up to exactly the final arguments.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace kiln::api {

struct JsonCallScan {
  bool valid = true;             // nothing seen so far contradicts a call object
  std::optional<std::string> name;
  // The arguments value ("arguments" or "parameters"): where its raw text starts in the scanned
  // text and how much of it is there; complete once the value ended.
  std::optional<size_t> arguments_begin;
  size_t arguments_length = 0;
  bool arguments_complete = false;
  bool arguments_is_string = false;  // the model wrote the arguments as a JSON string
  bool complete = false;             // the closing brace of the object was seen
  size_t end = 0;                    // just past the object, when complete
};

// Scans the call object at the start of `text` (leading whitespace allowed). The text may stop
// anywhere: what it holds so far is reported.
JsonCallScan scan_json_call(std::string_view text);

// The arguments as a tool call carries them: the raw JSON text of the value, or the decoded
// content when the model wrote a JSON string; "{}" when there were none.
std::string call_arguments(std::string_view text, const JsonCallScan& scan);

// Whitespace as JSON allows it between tokens (space, tab, line feed, carriage return); the tool
// call parsers skip the same around the calls they find.
bool is_json_space(char c);
// The first position from `i` on that is not JSON whitespace (text.size() when none).
size_t skip_json_space(std::string_view text, size_t i);

// Decodes a complete JSON string literal starting at text[0] == '"'; nullopt if malformed.
std::optional<std::string> decode_json_string(std::string_view text, size_t* length);

}  // namespace kiln::api
