// Tool calls in chat responses: the whole response (message.tool_calls with ids, content null,
// finish_reason "tool_calls") and the stream (OpenAI's incremental tool_calls deltas) for the
// same outputs, the stream reassembling to the whole response however the text is cut; the
// reasoning part still streams as reasoning_content; "auto" needs the server's flags.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "api/chat_response.h"
#include "fake_codec.h"

namespace kiln::api {
namespace {

const std::string kCalls = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
                           "{\"city\": \"Paris\"}\n```<｜tool▁call▁end｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>now\n```json\n{}\n```"
                           "<｜tool▁call▁end｜><｜tool▁calls▁end｜>";

ResponseContext context(const TextCodec* codec, ReasoningParserKind parser) {
  ResponseContext c;
  c.id = "chatcmpl-1";
  c.created = 1;
  c.model = "m";
  c.codec = codec;
  c.reasoning_parser = parser;
  return c;
}

RequestOutput output(const std::string& text, FinishReason finish, bool finished) {
  RequestOutput out;
  out.num_prompt_tokens = 3;
  CompletionOutput c;
  c.text_delta = text;
  c.new_token_ids = {1};
  c.finish_reason = finish;
  c.num_output_tokens = 1;
  out.outputs.push_back(c);
  out.finished = finished;
  return out;
}

ChatOptions with_tools(ToolCallFormat format, std::string named = "") {
  ChatOptions options;
  options.tools = ToolCallOptions{format, std::move(named), true};
  return options;
}

// What a client reassembles from a stream: reasoning, content, and calls by index.
struct Reassembled {
  std::string reasoning, content;
  std::map<int, std::pair<std::string, std::string>> calls;  // index -> (name, arguments)
  std::map<int, std::string> ids;
  std::string finish_reason;
};

Reassembled reassemble(const std::string& sse) {
  Reassembled r;
  std::istringstream in(sse);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("data: {", 0) != 0) continue;
    const Json chunk = Json::parse(line.substr(6));
    for (const Json& choice : chunk["choices"]) {
      const Json& delta = choice["delta"];
      if (delta.contains("reasoning_content")) r.reasoning += delta["reasoning_content"].get<std::string>();
      if (delta.contains("content") && delta["content"].is_string()) r.content += delta["content"].get<std::string>();
      if (delta.contains("tool_calls")) {
        for (const Json& call : delta["tool_calls"]) {
          const int index = call["index"].get<int>();
          if (call.contains("id")) {
            EXPECT_FALSE(r.ids.count(index)) << "an id sent twice for call " << index;
            r.ids[index] = call["id"].get<std::string>();
            EXPECT_EQ(call["type"], "function");
            r.calls[index].first = call["function"]["name"].get<std::string>();
          } else {
            EXPECT_TRUE(r.ids.count(index)) << "arguments before the call's id";
          }
          r.calls[index].second += call["function"]["arguments"].get<std::string>();
        }
      }
      if (!choice["finish_reason"].is_null()) r.finish_reason = choice["finish_reason"].get<std::string>();
    }
  }
  return r;
}

void expect_stream_matches_whole(const std::string& text, ReasoningParserKind parser, const ChatOptions& options) {
  testing::ByteCodec codec;
  ChatResponseAccumulator whole(context(&codec, parser), options);
  whole.add(output(text, FinishReason::kStop, true));
  const Json message = whole.build()["choices"][0]["message"];
  const std::string finish = whole.build()["choices"][0]["finish_reason"].get<std::string>();
  for (size_t piece : {size_t{1}, size_t{3}, size_t{7}, text.size()}) {
    ChatStreamWriter writer(context(&codec, parser), options);
    std::string sse;
    for (size_t at = 0; at < text.size(); at += piece) {
      const bool last = at + piece >= text.size();
      sse += writer.on_output(output(text.substr(at, piece), last ? FinishReason::kStop : FinishReason::kNone, last));
    }
    sse += writer.finish();
    const Reassembled r = reassemble(sse);
    SCOPED_TRACE("pieces of " + std::to_string(piece));
    EXPECT_EQ(r.finish_reason, finish);
    EXPECT_EQ(r.content, message["content"].is_null() ? std::string() : message["content"].get<std::string>());
    if (message["reasoning_content"].is_string()) {
      EXPECT_EQ(r.reasoning, message["reasoning_content"].get<std::string>());
    }
    ASSERT_EQ(r.calls.size(), message["tool_calls"].size());
    for (size_t i = 0; i < r.calls.size(); ++i) {
      EXPECT_EQ(r.calls.at(static_cast<int>(i)).first, message["tool_calls"][i]["function"]["name"]);
      EXPECT_EQ(r.calls.at(static_cast<int>(i)).second, message["tool_calls"][i]["function"]["arguments"]);
      EXPECT_EQ(r.ids.at(static_cast<int>(i)).rfind("chatcmpl-tool-", 0), 0u);
    }
  }
}

TEST(ToolCallResponse, WholeResponseCarriesCallsWithIds) {
  testing::ByteCodec codec;
  ChatResponseAccumulator acc(context(&codec, ReasoningParserKind::kDeepSeekR1), with_tools(ToolCallFormat::kDeepSeekV3));
  acc.add(output("I should look it up.</think>\n\n" + kCalls, FinishReason::kStop, true));
  const Json choice = acc.build()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  const Json& message = choice["message"];
  EXPECT_TRUE(message["content"].is_null());
  EXPECT_EQ(message["reasoning_content"], "I should look it up.");
  ASSERT_EQ(message["tool_calls"].size(), 2u);
  EXPECT_EQ(message["tool_calls"][0]["type"], "function");
  EXPECT_EQ(message["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(message["tool_calls"][0]["function"]["arguments"], "{\"city\": \"Paris\"}");
  EXPECT_EQ(message["tool_calls"][1]["function"]["arguments"], "{}");
  EXPECT_NE(message["tool_calls"][0]["id"], message["tool_calls"][1]["id"]);
}

TEST(ToolCallResponse, NoCallsLeavesTheContentAndStop) {
  testing::ByteCodec codec;
  ChatResponseAccumulator acc(context(&codec, ReasoningParserKind::kNone), with_tools(ToolCallFormat::kHermes));
  acc.add(output("Just text.", FinishReason::kStop, true));
  const Json choice = acc.build()["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "stop");
  EXPECT_EQ(choice["message"]["content"], "Just text.");
  EXPECT_EQ(choice["message"]["tool_calls"], Json::array());
}

TEST(ToolCallResponse, StreamsReassembleToTheWholeResponse) {
  expect_stream_matches_whole("I should look it up.</think>\n\n" + kCalls, ReasoningParserKind::kDeepSeekR1,
                              with_tools(ToolCallFormat::kDeepSeekV3));
  expect_stream_matches_whole("Checking.<tool_call>{\"name\": \"f\", \"arguments\": {\"a\": [1, 2]}}</tool_call>",
                              ReasoningParserKind::kNone, with_tools(ToolCallFormat::kHermes));
  expect_stream_matches_whole("Plain answer, no tools.", ReasoningParserKind::kNone, with_tools(ToolCallFormat::kHermes));
  expect_stream_matches_whole("[{\"name\": \"a\", \"parameters\": {\"x\": 1}}, {\"name\": \"b\", \"parameters\": {}}]",
                              ReasoningParserKind::kNone, with_tools(ToolCallFormat::kRequiredArray));
  expect_stream_matches_whole("think</think>{\"city\": \"Rome\"}", ReasoningParserKind::kDeepSeekR1,
                              with_tools(ToolCallFormat::kNamedArguments, "get_weather"));
}

TEST(ToolCallResponse, AutoNeedsTheServerFlags) {
  ToolRequest request;
  request.choice = ToolChoice::kAuto;
  ServingConfig serving;
  auto refused = tool_call_options(request, serving);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().message, "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set");
  serving.enable_auto_tool_choice = true;
  serving.tool_call_parser = ToolCallFormat::kHermes;
  auto ok = tool_call_options(request, serving);
  ASSERT_TRUE(ok.ok());
  ASSERT_TRUE(ok.value().has_value());
  EXPECT_EQ(ok.value()->format, ToolCallFormat::kHermes);
  request.choice = ToolChoice::kNone;
  EXPECT_FALSE(tool_call_options(request, serving).value().has_value());
}

}  // namespace
}  // namespace kiln::api
