#include "api/tool_fields.h"

namespace kiln::api {
namespace {

const char* const kCorrectUsage = "Correct usage: `{\"type\": \"function\", \"function\": {\"name\": \"my_function\"}}`";

// Each tool: {"type": "function", "function": {"name": string, "parameters"?: object}}.
bool validate_tools(FieldReader& reader, const JsonIn& tools) {
  if (!tools.is_array()) {
    reader.fail(bad_request("'tools' must be a list, got " + json_kind_name(tools), "tools"));
    return false;
  }
  if (tools.empty()) {
    reader.fail(bad_request("`tools` must not be an empty array. Either provide at least one tool or omit the field entirely.", "tools"));
    return false;
  }
  for (size_t i = 0; i < tools.size(); ++i) {
    const JsonIn& tool = tools[i];
    const std::string where = "tools[" + std::to_string(i) + "]";
    if (!tool.is_object()) {
      reader.fail(bad_request("'" + where + "' must be an object, got " + json_kind_name(tool), where));
      return false;
    }
    auto type = tool.find("type");
    if (type != tool.end() && !type->is_null() && !(type->is_string() && type->get<std::string>() == "function")) {
      reader.fail(bad_request("'" + where + ".type' must be 'function'", where + ".type"));
      return false;
    }
    auto function = tool.find("function");
    if (function == tool.end() || !function->is_object()) {
      reader.fail(bad_request("'" + where + ".function' must be an object with a 'name'", where + ".function"));
      return false;
    }
    auto name = function->find("name");
    if (name == function->end() || !name->is_string() || name->get<std::string>().empty()) {
      reader.fail(bad_request("'" + where + ".function.name' must be a non-empty string", where + ".function.name"));
      return false;
    }
    auto parameters = function->find("parameters");
    if (parameters != function->end() && !parameters->is_null() && !parameters->is_object()) {
      reader.fail(bad_request("'" + where + ".function.parameters' must be a JSON Schema object, got " + json_kind_name(*parameters),
                              where + ".function.parameters"));
      return false;
    }
  }
  return true;
}

// Tool i's parameters schema with its member order; an empty object schema when it has none.
OrderedJson parameters_of(const JsonIn& tools, size_t i, const OrderedJson* ordered_body) {
  const JsonIn& function = tools[i]["function"];
  auto parameters = function.find("parameters");
  if (parameters == function.end() || parameters->is_null()) return OrderedJson{{"type", "object"}, {"properties", OrderedJson::object()}};
  return OrderedJson::parse(ordered_dump(ordered_body, {"tools", std::to_string(i), "function", "parameters"}, *parameters));
}

}  // namespace

ToolRequest read_tool_fields(FieldReader& reader) {
  ToolRequest out;
  const JsonIn* tools = reader.get("tools");
  if (tools && !validate_tools(reader, *tools)) return out;
  if (tools) out.tools = *tools;
  if (auto parallel = reader.boolean("parallel_tool_calls")) out.parallel_tool_calls = *parallel;
  const JsonIn* choice = reader.get("tool_choice");
  if (!choice) {
    out.choice = tools ? ToolChoice::kAuto : ToolChoice::kNone;
    return out;
  }
  if (choice->is_string() && choice->get<std::string>() == "none") return out;
  if (!tools) {
    reader.fail(bad_request("When using `tool_choice`, `tools` must be set.", "tool_choice"));
    return out;
  }
  if (choice->is_string()) {
    const std::string value = choice->get<std::string>();
    if (value == "auto") out.choice = ToolChoice::kAuto;
    else if (value == "required") out.choice = ToolChoice::kRequired;
    else reader.fail(bad_request("Invalid value for `tool_choice`: " + value + "! Only named tools, \"none\", \"auto\" or \"required\" are supported.", "tool_choice"));
    return out;
  }
  if (!choice->is_object()) {
    reader.fail(bad_request("Invalid value for `tool_choice`: " + choice->dump() + "! Only named tools, \"none\", \"auto\" or \"required\" are supported.",
                            "tool_choice"));
    return out;
  }
  auto function = choice->find("function");
  if (function == choice->end() || !function->is_object()) {
    reader.fail(bad_request(std::string("Invalid value for `function`: `") + (function == choice->end() ? "None" : function->dump()) +
                                "` in `tool_choice`! " + kCorrectUsage,
                            "tool_choice.function"));
    return out;
  }
  auto name = function->find("name");
  if (name == function->end()) {
    reader.fail(bad_request(std::string("Expected field `name` in `function` in `tool_choice`! ") + kCorrectUsage, "tool_choice.function.name"));
    return out;
  }
  if (!name->is_string() || name->get<std::string>().empty()) {
    reader.fail(bad_request("Invalid `name` in `function`: `" + name->dump() + "` in `tool_choice`! " + kCorrectUsage, "tool_choice.function.name"));
    return out;
  }
  for (const JsonIn& tool : *tools) {
    if (tool["function"]["name"] == *name) {
      out.choice = ToolChoice::kNamed;
      out.named_function = name->get<std::string>();
      return out;
    }
  }
  reader.fail(bad_request("The tool specified in `tool_choice` does not match any of the specified `tools`", "tool_choice"));
  return out;
}

std::optional<OutputConstraint> tool_choice_constraint(const ToolRequest& request, FieldReader& reader,
                                                       const OrderedJson* ordered_body) {
  if (request.choice == ToolChoice::kNamed) {
    for (size_t i = 0; i < request.tools.size(); ++i) {
      if (request.tools[i]["function"]["name"] == request.named_function) {
        return OutputConstraint{{grammar::GrammarKind::kJsonSchema, parameters_of(request.tools, i, ordered_body).dump(), {}},
                                "tools[" + std::to_string(i) + "].function.parameters"};
      }
    }
    return std::nullopt;
  }
  if (request.choice != ToolChoice::kRequired) return std::nullopt;
  // Each tool's $defs move to the root, where its "#/$defs/..." references now point.
  OrderedJson branches = OrderedJson::array();
  OrderedJson defs = OrderedJson::object();
  for (size_t i = 0; i < request.tools.size(); ++i) {
    OrderedJson parameters = parameters_of(request.tools, i, ordered_body);
    if (parameters.is_object() && parameters.contains("$defs")) {
      for (const auto& [name, schema] : parameters["$defs"].items()) {
        if (defs.contains(name) && defs[name] != schema) {
          reader.fail(bad_request("Tool definition '" + name + "' has multiple schemas, which is not supported.",
                                  "tools[" + std::to_string(i) + "].function.parameters"));
          return std::nullopt;
        }
        defs[name] = schema;
      }
      parameters.erase("$defs");
    }
    const std::string name = request.tools[i]["function"]["name"].get<std::string>();
    branches.push_back(OrderedJson{{"properties", {{"name", {{"type", "string"}, {"enum", {name}}}}, {"parameters", parameters}}},
                                   {"required", {"name", "parameters"}}});
  }
  OrderedJson schema{{"type", "array"}, {"minItems", 1}, {"items", {{"type", "object"}, {"anyOf", branches}}}};
  if (!request.parallel_tool_calls) schema["maxItems"] = 1;
  if (!defs.empty()) schema["$defs"] = defs;
  return OutputConstraint{{grammar::GrammarKind::kJsonSchema, schema.dump(), {}}, "tools"};
}

}  // namespace kiln::api
