// The request fields that constrain the output (response_format, structured_outputs, guided_*)
// and the tool fields, on both endpoints: what constraint each gives, which wins, vLLM's error
// texts naming the field, and schemas read with their member order.
#include <gtest/gtest.h>

#include <string>

#include "api/openai_request.h"

namespace kiln::api {
namespace {

using grammar::GrammarKind;

ChatCompletionRequest chat(const std::string& fields) {
  auto parsed = parse_chat_request(R"({"messages":[{"role":"user","content":"hi"}])" + fields + "}", ParseLimits{});
  EXPECT_TRUE(parsed.ok()) << parsed.error().message;
  return parsed.ok() ? std::move(parsed).value() : ChatCompletionRequest{};
}

ApiError chat_error(const std::string& fields) {
  auto parsed = parse_chat_request(R"({"messages":[{"role":"user","content":"hi"}])" + fields + "}", ParseLimits{});
  EXPECT_FALSE(parsed.ok()) << fields;
  return parsed.ok() ? ApiError{} : parsed.error();
}

TEST(OutputConstraint, ResponseFormat) {
  EXPECT_FALSE(chat(R"(,"response_format":{"type":"text"})").constraint);
  auto object = chat(R"(,"response_format":{"type":"json_object"})").constraint;
  ASSERT_TRUE(object);
  EXPECT_EQ(object->spec.kind, GrammarKind::kJsonObject);
  // The schema keeps its member order (properties b before a), as the client wrote it.
  auto schema = chat(R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x","strict":true,
                       "schema":{"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"string"}}}}})").constraint;
  ASSERT_TRUE(schema);
  EXPECT_EQ(schema->spec.kind, GrammarKind::kJsonSchema);
  EXPECT_EQ(schema->spec.text, R"({"type":"object","properties":{"b":{"type":"integer"},"a":{"type":"string"}}})");
  EXPECT_EQ(schema->param, "response_format.json_schema.schema");
}

TEST(OutputConstraint, StructuredOutputsAndGuidedFields) {
  auto regex = chat(R"(,"structured_outputs":{"regex":"[0-9]+"})").constraint;
  ASSERT_TRUE(regex);
  EXPECT_EQ(regex->spec.kind, GrammarKind::kRegex);
  EXPECT_EQ(regex->spec.text, "[0-9]+");
  EXPECT_EQ(regex->param, "structured_outputs.regex");
  auto choice = chat(R"(,"structured_outputs":{"choice":["yes","no"]})").constraint;
  ASSERT_TRUE(choice);
  EXPECT_EQ(choice->spec.choices, (std::vector<std::string>{"yes", "no"}));
  auto grammar = chat(R"(,"structured_outputs":{"grammar":"root ::= \"a\""})").constraint;
  ASSERT_TRUE(grammar);
  EXPECT_EQ(grammar->spec.kind, GrammarKind::kEbnf);
  auto compact = chat(R"(,"structured_outputs":{"json":{"type":"integer"},"disable_any_whitespace":true})").constraint;
  ASSERT_TRUE(compact);
  EXPECT_TRUE(compact->spec.json_compact);
  EXPECT_EQ(chat(R"(,"structured_outputs":{"json_object":true})").constraint->spec.kind, GrammarKind::kJsonObject);
  // guided_*: the schema may be JSON text; the backend field is ignored.
  auto guided = chat(R"(,"guided_json":"{\"type\":\"object\",\"properties\":{\"z\":{},\"y\":{}}}","guided_decoding_backend":"xgrammar")").constraint;
  ASSERT_TRUE(guided);
  EXPECT_EQ(guided->spec.text, R"({"type":"object","properties":{"z":{},"y":{}}})");
  EXPECT_EQ(guided->param, "guided_json");
  EXPECT_EQ(chat(R"(,"guided_choice":["a"])").constraint->spec.kind, GrammarKind::kChoice);
  EXPECT_EQ(chat(R"(,"guided_grammar":"root ::= \"a\"")").constraint->spec.kind, GrammarKind::kEbnf);
}

TEST(OutputConstraint, ResponseFormatWinsOverStructuredOutputsOverGuided) {
  auto both = chat(R"(,"guided_regex":"a","structured_outputs":{"regex":"b"})").constraint;
  ASSERT_TRUE(both);
  EXPECT_EQ(both->spec.text, "b");
  auto all = chat(R"(,"guided_regex":"a","structured_outputs":{"regex":"b"},"response_format":{"type":"json_object"})").constraint;
  ASSERT_TRUE(all);
  EXPECT_EQ(all->spec.kind, GrammarKind::kJsonObject);
}

TEST(OutputConstraint, ErrorsNameTheField) {
  ApiError e = chat_error(R"(,"structured_outputs":{"regex":"a","choice":["b"]})");
  EXPECT_EQ(e.message, "You can only use one kind of constraints for structured outputs ('json', 'regex' or 'choice').");
  EXPECT_EQ(e.param, "structured_outputs");
  e = chat_error(R"(,"guided_json":{},"guided_regex":"a")");
  EXPECT_EQ(e.message, "You can only use one kind of guided decoding ('guided_json', 'guided_regex', 'guided_choice', 'guided_grammar').");
  e = chat_error(R"(,"response_format":{"type":"json_schema"})");
  EXPECT_EQ(e.message, "When response_format type is 'json_schema', the 'json_schema' field must be provided.");
  EXPECT_EQ(e.param, "response_format");
  e = chat_error(R"(,"response_format":{"type":"json_schema","json_schema":{"name":"x"}})");
  EXPECT_EQ(e.param, "response_format.json_schema.schema");
  e = chat_error(R"(,"response_format":{"type":"xml"})");
  EXPECT_EQ(e.param, "response_format.type");
  e = chat_error(R"(,"response_format":"json")");
  EXPECT_EQ(e.message, "'response_format' must be an object, got a string");
  e = chat_error(R"(,"structured_outputs":{"choice":[]})");
  EXPECT_EQ(e.param, "structured_outputs.choice");
  e = chat_error(R"(,"structured_outputs":{"json":"{not json"})");
  EXPECT_EQ(e.message, "'structured_outputs.json' must be a JSON Schema (an object, or its JSON text)");
  e = chat_error(R"(,"structured_outputs":{"structural_tag":"{}"})");
  EXPECT_EQ(e.param, "structured_outputs.structural_tag");
  e = chat_error(R"(,"guided_regex":7)");
  EXPECT_EQ(e.message, "'guided_regex' must be a string, got an integer");
}

TEST(OutputConstraint, CompletionsTakeTheSameFields) {
  auto parsed = parse_completion_request(R"({"prompt":"x","structured_outputs":{"choice":["a","b"]}})", ParseLimits{});
  ASSERT_TRUE(parsed.ok()) << parsed.error().message;
  ASSERT_TRUE(parsed.value().constraint);
  EXPECT_EQ(parsed.value().constraint->spec.kind, GrammarKind::kChoice);
  auto format = parse_completion_request(R"({"prompt":"x","response_format":{"type":"json_object"}})", ParseLimits{});
  ASSERT_TRUE(format.ok());
  EXPECT_EQ(format.value().constraint->spec.kind, GrammarKind::kJsonObject);
}

const char* const kTools = R"(,"tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
    "properties":{"city":{"type":"string"},"unit":{"$ref":"#/$defs/Unit"}},"required":["city"],"$defs":{"Unit":{"enum":["c","f"]}}}}},
    {"type":"function","function":{"name":"now"}}])";

TEST(ToolFields, ChoiceDefaultsAndForcedCalls) {
  ChatCompletionRequest r = chat(kTools);
  EXPECT_EQ(r.tool_request.choice, ToolChoice::kAuto);
  EXPECT_FALSE(r.constraint);
  EXPECT_TRUE(r.tools.is_array());
  EXPECT_EQ(chat(std::string(kTools) + R"(,"tool_choice":"none")").tool_request.choice, ToolChoice::kNone);
  ChatCompletionRequest named = chat(std::string(kTools) + R"(,"tool_choice":{"type":"function","function":{"name":"get_weather"}})");
  EXPECT_EQ(named.tool_request.choice, ToolChoice::kNamed);
  EXPECT_EQ(named.tool_request.named_function, "get_weather");
  ASSERT_TRUE(named.constraint);
  EXPECT_EQ(named.constraint->spec.text,
            R"({"type":"object","properties":{"city":{"type":"string"},"unit":{"$ref":"#/$defs/Unit"}},"required":["city"],"$defs":{"Unit":{"enum":["c","f"]}}})");
  ChatCompletionRequest required = chat(std::string(kTools) + R"(,"tool_choice":"required","parallel_tool_calls":false)");
  ASSERT_TRUE(required.constraint);
  const JsonIn schema = JsonIn::parse(required.constraint->spec.text);
  EXPECT_EQ(schema["type"], "array");
  EXPECT_EQ(schema["minItems"], 1);
  EXPECT_EQ(schema["maxItems"], 1);
  EXPECT_EQ(schema["$defs"]["Unit"]["enum"][0], "c");
  EXPECT_FALSE(schema["items"]["anyOf"][0]["properties"]["parameters"].contains("$defs"));
  EXPECT_EQ(schema["items"]["anyOf"][1]["properties"]["name"]["enum"][0], "now");
}

TEST(ToolFields, VllmErrors) {
  ApiError e = chat_error(R"(,"tools":[])");
  EXPECT_EQ(e.message, "`tools` must not be an empty array. Either provide at least one tool or omit the field entirely.");
  EXPECT_EQ(e.param, "tools");
  e = chat_error(R"(,"tool_choice":"auto")");
  EXPECT_EQ(e.message, "When using `tool_choice`, `tools` must be set.");
  e = chat_error(std::string(kTools) + R"(,"tool_choice":"always")");
  EXPECT_EQ(e.message, "Invalid value for `tool_choice`: always! Only named tools, \"none\", \"auto\" or \"required\" are supported.");
  e = chat_error(std::string(kTools) + R"(,"tool_choice":{"type":"function","function":{"name":"nope"}})");
  EXPECT_EQ(e.message, "The tool specified in `tool_choice` does not match any of the specified `tools`");
  e = chat_error(std::string(kTools) + R"(,"tool_choice":{"type":"function"})");
  EXPECT_EQ(e.param, "tool_choice.function");
  e = chat_error(std::string(kTools) + R"(,"tool_choice":{"type":"function","function":{}})");
  EXPECT_EQ(e.param, "tool_choice.function.name");
  e = chat_error(R"(,"tools":[{"type":"function","function":{"description":"x"}}])");
  EXPECT_EQ(e.param, "tools[0].function.name");
  e = chat_error(R"(,"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}])");
  EXPECT_EQ(e.param, "tools[0].function.parameters");
  e = chat_error(std::string(kTools) + R"(,"tool_choice":"required","response_format":{"type":"json_object"})");
  EXPECT_EQ(e.message, "You can only either use constraints for structured outputs or tools, not both.");
  EXPECT_EQ(e.param, "tool_choice");
  e = chat_error(R"(,"tools":[{"type":"function","function":{"name":"a","parameters":{"$defs":{"X":{"type":"string"}}}}},
                           {"type":"function","function":{"name":"b","parameters":{"$defs":{"X":{"type":"integer"}}}}}],"tool_choice":"required")");
  EXPECT_EQ(e.message, "Tool definition 'X' has multiple schemas, which is not supported.");
}

}  // namespace
}  // namespace kiln::api
