#include "api/tool_call_response.h"

#include <random>

namespace kiln::api {
namespace {

bool blank(const std::string& text) {
  for (char c : text) {
    if (c != ' ' && c != '\n' && c != '\t' && c != '\r') return false;
  }
  return true;
}

}  // namespace

ApiResult<std::optional<ToolCallOptions>> tool_call_options(const ToolRequest& request, const ServingConfig& serving) {
  ToolCallOptions options;
  options.parallel_tool_calls = request.parallel_tool_calls;
  switch (request.choice) {
    case ToolChoice::kNone: return std::optional<ToolCallOptions>();
    case ToolChoice::kRequired: options.format = ToolCallFormat::kRequiredArray; break;
    case ToolChoice::kNamed:
      options.format = ToolCallFormat::kNamedArguments;
      options.named_function = request.named_function;
      break;
    case ToolChoice::kAuto:
      if (!serving.enable_auto_tool_choice || !serving.tool_call_parser) {
        return bad_request("\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set", "tool_choice");
      }
      options.format = *serving.tool_call_parser;
      break;
  }
  return std::optional<ToolCallOptions>(options);
}

std::string make_tool_call_id() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  static const char* const kHex = "0123456789abcdef";
  std::string id = "chatcmpl-tool-";
  for (int i = 0; i < 2; ++i) {
    uint64_t bits = rng();
    for (int k = 0; k < 16; ++k, bits >>= 4) id += kHex[bits & 15];
  }
  return id;
}

bool put_tool_calls(const ToolCallOptions& options, const std::string& content, Json* message) {
  ParsedToolOutput parsed = parse_tool_calls(options.format, content, options.named_function);
  if (!options.parallel_tool_calls && parsed.calls.size() > 1) parsed.calls.resize(1);
  if (parsed.calls.empty()) {
    (*message)["content"] = content;
    (*message)["tool_calls"] = Json::array();
    return false;
  }
  (*message)["content"] = blank(parsed.content) ? Json(nullptr) : Json(parsed.content);
  Json calls = Json::array();
  for (const ParsedToolCall& call : parsed.calls) {
    calls.push_back(Json{{"id", make_tool_call_id()}, {"type", "function"},
                         {"function", Json{{"name", call.name}, {"arguments", call.arguments}}}});
  }
  (*message)["tool_calls"] = std::move(calls);
  return true;
}

void ToolCallDeltaStream::convert(const ToolStreamDelta& delta, std::string* content_out, Json* tool_calls) {
  content_out->clear();
  if (!delta.content.empty()) {
    if (blank(delta.content)) {
      blank_ += delta.content;
    } else {
      *content_out = blank_ + delta.content;
      blank_.clear();
    }
  }
  *tool_calls = Json::array();
  for (const ToolCallDelta& call : delta.tool_calls) {
    if (!options_.parallel_tool_calls && call.index > 0) continue;
    Json entry;
    entry["index"] = call.index;
    if (call.name) {
      ids_.push_back(make_tool_call_id());
      blank_.clear();  // calls made: blank content before them is no content
      entry["id"] = ids_.back();
      entry["type"] = "function";
      entry["function"] = Json{{"name", *call.name}, {"arguments", call.arguments}};
    } else {
      entry["function"] = Json{{"arguments", call.arguments}};
    }
    tool_calls->push_back(std::move(entry));
  }
}

void ToolCallDeltaStream::feed(const std::string& content, std::string* content_out, Json* tool_calls) {
  convert(parser_.feed(content), content_out, tool_calls);
}

void ToolCallDeltaStream::finish(std::string* content_out, Json* tool_calls) {
  convert(parser_.finish(), content_out, tool_calls);
  if (!called() && !blank_.empty()) *content_out = blank_ + *content_out;
  blank_.clear();
}

}  // namespace kiln::api
