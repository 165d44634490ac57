// The tool fields of a chat request as vLLM validates them: tools (a non-empty list of
// {"type": "function", "function": {"name", "description", "parameters"}}), tool_choice ("none",
// "auto", "required" or {"type": "function", "function": {"name"}}; "auto" when tools are given
// without it, "none" otherwise) and parallel_tool_calls. "required" and a named choice force
// valid calls through the grammar engine: tool_choice_constraint gives the constraint.
#pragma once

#include <optional>
#include <string>

#include "api/field_reader.h"
#include "api/structured_output_fields.h"

namespace kiln::api {

enum class ToolChoice { kNone, kAuto, kRequired, kNamed };

struct ToolRequest {
  JsonIn tools;  // the validated list; null when absent
  ToolChoice choice = ToolChoice::kNone;
  std::string named_function;  // ToolChoice::kNamed
  bool parallel_tool_calls = true;
};

ToolRequest read_tool_fields(FieldReader& reader);

// required: a JSON array (at least one element; one at most without parallel_tool_calls) of
// {"name": <a tool's name>, "parameters": <its parameters>}; named: that tool's parameters.
// Nullopt for none and auto. Errors (tools whose $defs disagree) go to `reader`.
// `ordered_body` (optional) gives the tools' parameters with their member order.
std::optional<OutputConstraint> tool_choice_constraint(const ToolRequest& request, FieldReader& reader,
                                                       const OrderedJson* ordered_body);

}  // namespace kiln::api
