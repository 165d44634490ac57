// The tool-call parsers: whole outputs of each format into content and calls, malformed calls
// left as content, and streams cut at every place (one byte at a time, and at random sizes)
// giving deltas that add up to exactly the whole-output result, each call's name sent once and
// before its arguments.
#include "api/tool_call_parser.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace kiln::api {
namespace {

const std::string kBegin = "<｜tool▁calls▁begin｜>";
const std::string kCall = "<｜tool▁call▁begin｜>";
const std::string kSep = "<｜tool▁sep｜>";
const std::string kCallEnd = "<｜tool▁call▁end｜>";
const std::string kEnd = "<｜tool▁calls▁end｜>";

std::string deepseek_call(const std::string& name, const std::string& args) {
  return kCall + "function" + kSep + name + "\n```json\n" + args + "\n```" + kCallEnd;
}

// Feeds `text` in pieces of the given sizes and gathers the deltas as parse_tool_calls would.
ParsedToolOutput stream(ToolCallFormat format, const std::string& text, const std::vector<size_t>& cuts,
                        const std::string& named = "") {
  ToolCallStreamParser parser(format, named);
  ParsedToolOutput out;
  std::vector<bool> named_sent;
  auto gather = [&](const ToolStreamDelta& d) {
    out.content += d.content;
    for (const ToolCallDelta& call : d.tool_calls) {
      if (call.name) {
        EXPECT_EQ(call.index, static_cast<int>(out.calls.size())) << "calls start in order";
        out.calls.push_back(ParsedToolCall{*call.name, ""});
      }
      EXPECT_LT(call.index, static_cast<int>(out.calls.size())) << "arguments before the name";
      if (call.index < static_cast<int>(out.calls.size())) out.calls[static_cast<size_t>(call.index)].arguments += call.arguments;
    }
  };
  size_t at = 0;
  for (size_t n : cuts) {
    gather(parser.feed(text.substr(at, n)));
    at += n;
  }
  gather(parser.feed(text.substr(at)));
  gather(parser.finish());
  return out;
}

void expect_same(const ParsedToolOutput& a, const ParsedToolOutput& b, const std::string& what) {
  EXPECT_EQ(a.content, b.content) << what;
  ASSERT_EQ(a.calls.size(), b.calls.size()) << what;
  for (size_t i = 0; i < a.calls.size(); ++i) {
    EXPECT_EQ(a.calls[i].name, b.calls[i].name) << what << " call " << i;
    EXPECT_EQ(a.calls[i].arguments, b.calls[i].arguments) << what << " call " << i;
  }
}

// Every single-byte cutting and a few random ones agree with the whole-output parse.
void expect_streams_agree(ToolCallFormat format, const std::string& text, const std::string& named = "") {
  const ParsedToolOutput whole = parse_tool_calls(format, text, named);
  expect_same(stream(format, text, std::vector<size_t>(text.size(), 1), named), whole, "byte by byte: " + text);
  std::mt19937 rng(static_cast<uint32_t>(text.size()));
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<size_t> cuts;
    for (size_t left = text.size(); left > 0;) {
      const size_t n = std::min<size_t>(left, 1 + rng() % 9);
      cuts.push_back(n);
      left -= n;
    }
    expect_same(stream(format, text, cuts, named), whole, "random cuts: " + text);
  }
}

TEST(ToolCallParser, DeepSeekV3) {
  const std::string text = "Let me check.\n\n" + kBegin + deepseek_call("get_weather", "{\"city\": \"Paris\"}") + "\n" +
                           deepseek_call("get_time", "{\"tz\":\"CET\",\n \"x\": [1, 2]}") + kEnd;
  const ParsedToolOutput out = parse_tool_calls(ToolCallFormat::kDeepSeekV3, text);
  EXPECT_EQ(out.content, "Let me check.\n\n");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "get_weather");
  EXPECT_EQ(out.calls[0].arguments, "{\"city\": \"Paris\"}");
  EXPECT_EQ(out.calls[1].name, "get_time");
  EXPECT_EQ(out.calls[1].arguments, "{\"tz\":\"CET\",\n \"x\": [1, 2]}");
  expect_streams_agree(ToolCallFormat::kDeepSeekV3, text);
  // Without the calls-begin marker, and with text after the calls.
  const std::string bare = deepseek_call("f", "{}") + "done";
  const ParsedToolOutput b = parse_tool_calls(ToolCallFormat::kDeepSeekV3, bare);
  ASSERT_EQ(b.calls.size(), 1u);
  EXPECT_EQ(b.calls[0].arguments, "{}");
  EXPECT_EQ(b.content, "done");
  expect_streams_agree(ToolCallFormat::kDeepSeekV3, bare);
}

TEST(ToolCallParser, DeepSeekV3PlainTextAndBrokenCalls) {
  const ParsedToolOutput plain = parse_tool_calls(ToolCallFormat::kDeepSeekV3, "No tools needed: 2 < 3 and `x`.");
  EXPECT_TRUE(plain.calls.empty());
  EXPECT_EQ(plain.content, "No tools needed: 2 < 3 and `x`.");
  expect_streams_agree(ToolCallFormat::kDeepSeekV3, "No tools needed: 2 < 3 and `x`.");
  // A call cut off by the length limit keeps what arrived.
  const std::string cut = kBegin + kCall + "function" + kSep + "f\n```json\n{\"a\": 1";
  const ParsedToolOutput c = parse_tool_calls(ToolCallFormat::kDeepSeekV3, cut);
  ASSERT_EQ(c.calls.size(), 1u);
  EXPECT_EQ(c.calls[0].arguments, "{\"a\": 1");
  expect_streams_agree(ToolCallFormat::kDeepSeekV3, cut);
}

TEST(ToolCallParser, Hermes) {
  const std::string text = "Sure.<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"kiln \\\"fast\\\"\", \"n\": 3}}\n</tool_call>\n"
                           "<tool_call>{\"arguments\": {}, \"name\": \"now\"}</tool_call>";
  const ParsedToolOutput out = parse_tool_calls(ToolCallFormat::kHermes, text);
  EXPECT_EQ(out.content, "Sure.");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].name, "search");
  EXPECT_EQ(out.calls[0].arguments, "{\"q\": \"kiln \\\"fast\\\"\", \"n\": 3}");
  EXPECT_EQ(out.calls[1].name, "now");
  EXPECT_EQ(out.calls[1].arguments, "{}");
  expect_streams_agree(ToolCallFormat::kHermes, text);
  // Arguments written as a JSON string are decoded.
  const std::string as_string = "<tool_call>{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}</tool_call>";
  const ParsedToolOutput s = parse_tool_calls(ToolCallFormat::kHermes, as_string);
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0].arguments, "{\"a\": 1}");
  expect_streams_agree(ToolCallFormat::kHermes, as_string);
  // Not JSON inside the tags: all content.
  const std::string broken = "a<tool_call>not json</tool_call>";
  const ParsedToolOutput b = parse_tool_calls(ToolCallFormat::kHermes, broken);
  EXPECT_TRUE(b.calls.empty());
  EXPECT_EQ(b.content, broken);
  expect_streams_agree(ToolCallFormat::kHermes, broken);
}

TEST(ToolCallParser, Llama3Json) {
  const std::string text = "{\"name\": \"add\", \"parameters\": {\"a\": 1, \"b\": 2}}; {\"name\": \"neg\", \"parameters\": {\"x\": -1.5e3}}";
  const ParsedToolOutput out = parse_tool_calls(ToolCallFormat::kLlama3Json, text);
  EXPECT_EQ(out.content, "");
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].arguments, "{\"a\": 1, \"b\": 2}");
  EXPECT_EQ(out.calls[1].name, "neg");
  EXPECT_EQ(out.calls[1].arguments, "{\"x\": -1.5e3}");
  expect_streams_agree(ToolCallFormat::kLlama3Json, text);
  expect_streams_agree(ToolCallFormat::kLlama3Json, "<|python_tag|>{\"name\": \"f\", \"parameters\": {}}");
  const ParsedToolOutput prose = parse_tool_calls(ToolCallFormat::kLlama3Json, "The answer is {1, 2}.");
  EXPECT_TRUE(prose.calls.empty());
  EXPECT_EQ(prose.content, "The answer is {1, 2}.");
  expect_streams_agree(ToolCallFormat::kLlama3Json, "The answer is {1, 2}.");
}

TEST(ToolCallParser, RequiredArrayAndNamedArguments) {
  const std::string array = "[{\"name\": \"a\", \"parameters\": {\"k\": [1, {\"z\": null}]}}, {\"name\": \"b\", \"parameters\": {}}]";
  const ParsedToolOutput out = parse_tool_calls(ToolCallFormat::kRequiredArray, array);
  ASSERT_EQ(out.calls.size(), 2u);
  EXPECT_EQ(out.calls[0].arguments, "{\"k\": [1, {\"z\": null}]}");
  EXPECT_EQ(out.calls[1].name, "b");
  EXPECT_EQ(out.content, "");
  expect_streams_agree(ToolCallFormat::kRequiredArray, array);
  const ParsedToolOutput named = parse_tool_calls(ToolCallFormat::kNamedArguments, "{\"city\": \"Oslo\"}", "get_weather");
  ASSERT_EQ(named.calls.size(), 1u);
  EXPECT_EQ(named.calls[0].name, "get_weather");
  EXPECT_EQ(named.calls[0].arguments, "{\"city\": \"Oslo\"}");
  expect_streams_agree(ToolCallFormat::kNamedArguments, "{\"city\": \"Oslo\"}", "get_weather");
}

TEST(ToolCallParser, ParserNames) {
  EXPECT_EQ(tool_call_parser_from_name("deepseek_v3"), ToolCallFormat::kDeepSeekV3);
  EXPECT_EQ(tool_call_parser_from_name("hermes"), ToolCallFormat::kHermes);
  EXPECT_EQ(tool_call_parser_from_name("llama3_json"), ToolCallFormat::kLlama3Json);
  EXPECT_EQ(tool_call_parser_from_name("mistral"), std::nullopt);
}

}  // namespace
}  // namespace kiln::api
