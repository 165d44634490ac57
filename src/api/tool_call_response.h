// Tool calls in chat responses, as OpenAI and vLLM send them: message.tool_calls with ids
// ({"id", "type": "function", "function": {"name", "arguments"}}), content null when the model
// only called tools, finish_reason "tool_calls"; and in streams the incremental tool_calls
// deltas (index, id, type and name once, then argument fragments).
#pragma once

#include <optional>
#include <string>

#include "api/api_error.h"
#include "api/serving_config.h"
#include "api/tool_call_parser.h"
#include "api/tool_fields.h"

namespace kiln::api {

struct ToolCallOptions {
  ToolCallFormat format = ToolCallFormat::kHermes;
  std::string named_function;  // ToolCallFormat::kNamedArguments
  bool parallel_tool_calls = true;
};

// How the request's output is read for tool calls: the forced forms for "required" and a named
// choice, the server's --tool-call-parser for "auto"; nullopt for none. An error for "auto"
// when the server was not started with --enable-auto-tool-choice and --tool-call-parser.
ApiResult<std::optional<ToolCallOptions>> tool_call_options(const ToolRequest& request, const ServingConfig& serving);

// "chatcmpl-tool-" and 32 random hex digits.
std::string make_tool_call_id();

// Fills message["content"] and message["tool_calls"] from the output's content; returns
// whether the model called a tool.
bool put_tool_calls(const ToolCallOptions& options, const std::string& content, Json* message);

// One streamed choice: content deltas in, content and tool_calls deltas out.
class ToolCallDeltaStream {
 public:
  explicit ToolCallDeltaStream(ToolCallOptions options) : options_(std::move(options)), parser_(options_.format, options_.named_function) {}
  // Sets *content_out (text that is not part of a call) and *tool_calls (a list of delta
  // entries, empty when none).
  void feed(const std::string& content, std::string* content_out, Json* tool_calls);
  void finish(std::string* content_out, Json* tool_calls);
  bool called() const { return !ids_.empty(); }

 private:
  void convert(const ToolStreamDelta& delta, std::string* content_out, Json* tool_calls);

  ToolCallOptions options_;
  ToolCallStreamParser parser_;
  std::vector<std::string> ids_;  // per call sent
  // Whitespace-only content is held: dropped if calls follow (the whole response's content is
  // null then), sent with the next text otherwise.
  std::string blank_;
};

}  // namespace kiln::api
