// Tool calls in a model's text, as vLLM's --tool-call-parser reads them:
//   llama3_json: the output is {"name": ..., "parameters": {...}} objects (an optional
//                <|python_tag|> first, several joined by ";");
//   hermes:      <tool_call>{"name": ..., "arguments": {...}}</tool_call> blocks after any text;
//   deepseek_v3: <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n
//                ARGS\n```<｜tool▁call▁end｜>...<｜tool▁calls▁end｜> after any text (the format
//                the DeepSeek-R1 chat template renders).
// and two forms the grammar forces: a JSON array of {"name", "parameters"} objects (tool_choice
// "required") and the bare arguments of one named function (a named tool_choice).
//
// One parser serves streams and whole outputs: fed text as it comes, it returns the content and
// the tool call deltas (the name once, then argument fragments) that are certain so far,
// holding back only what might be the start of a marker. A whole output is parsed by feeding it
// at once, so the streamed deltas always add up to the non-streamed result. Pure functions of
// the text; no sockets, no engine.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "api/tool_call_json.h"

namespace kiln::api {

enum class ToolCallFormat {
  kLlama3Json,
  kHermes,
  kDeepSeekV3,
  kRequiredArray,  // tool_choice "required": [{"name": ..., "parameters": {...}}, ...]
  kNamedArguments, // a named tool_choice: the whole output is the arguments
};

// "llama3_json", "hermes", "deepseek_v3" (the --tool-call-parser names); nullopt otherwise.
std::optional<ToolCallFormat> tool_call_parser_from_name(std::string_view name);
const char* tool_call_parser_names();  // for messages: "llama3_json, hermes, deepseek_v3"

struct ToolCallDelta {
  int index = 0;
  std::optional<std::string> name;  // set on the call's first delta only
  std::string arguments;            // a fragment
};

struct ToolStreamDelta {
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return content.empty() && tool_calls.empty(); }
};

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // JSON text
};

struct ParsedToolOutput {
  std::string content;  // the text outside tool calls
  std::vector<ParsedToolCall> calls;
};

class ToolCallStreamParser {
 public:
  // named_function: the function of a kNamedArguments stream.
  explicit ToolCallStreamParser(ToolCallFormat format, std::string named_function = "");

  ToolStreamDelta feed(std::string_view text);
  // The end of the output: whatever was held back goes out.
  ToolStreamDelta finish();
  int num_calls() const { return num_calls_; }

 private:
  enum class Phase { kStart, kContent, kBetweenCalls, kInCall, kDone };

  void step(ToolStreamDelta* out, bool final);
  void content_until_marker(ToolStreamDelta* out, bool final);
  void between_calls(ToolStreamDelta* out, bool final, bool* progressed);
  void in_json_call(ToolStreamDelta* out, bool final, bool* progressed);
  void in_deepseek_call(ToolStreamDelta* out, bool final, bool* progressed);
  void emit_arguments(ToolStreamDelta* out, std::string_view arguments_so_far);
  void start_call(ToolStreamDelta* out, std::string name);

  ToolCallFormat format_;
  std::string named_function_;
  std::string text_;
  size_t pos_ = 0;  // text_[0, pos_) is decided
  size_t search_from_ = 0;  // markers before this turned out not to open calls
  Phase phase_ = Phase::kStart;
  int num_calls_ = 0;
  size_t call_begin_ = 0;      // where the current call's body starts in text_
  bool call_named_ = false;    // the current call's name was sent
  size_t arguments_sent_ = 0;  // bytes of the current call's arguments sent
};

// A whole output at once (what feeding it and finishing would give, gathered).
ParsedToolOutput parse_tool_calls(ToolCallFormat format, std::string_view text, const std::string& named_function = "");

}  // namespace kiln::api
