// The JSON shapes of responses and SSE chunks, compared as text against vLLM's.
#include <gtest/gtest.h>

#include <limits>

#include "api/chat_response.h"
#include "api/completion_response.h"
#include "api/logprobs_format.h"
#include "api/request_id.h"
#include "fake_codec.h"

namespace kiln::api {
namespace {

ResponseContext context(const TextCodec* codec, ReasoningParserKind parser = ReasoningParserKind::kNone) {
  ResponseContext c;
  c.id = "chatcmpl-1";
  c.created = 1739001265;
  c.model = "deepseek-ai/DeepSeek-R1-Distill-Llama-8B";
  c.codec = codec;
  c.reasoning_parser = parser;
  return c;
}

RequestOutput output(const std::string& text, std::vector<int32_t> ids, FinishReason finish, int total,
                     bool finished) {
  RequestOutput out;
  out.request_id = "r";
  out.num_prompt_tokens = 10;
  CompletionOutput c;
  c.index = 0;
  c.text_delta = text;
  c.new_token_ids = std::move(ids);
  c.finish_reason = finish;
  c.num_output_tokens = total;
  out.outputs.push_back(c);
  out.finished = finished;
  return out;
}

TEST(ResponseShapeTest, ChatMatchesTheGuideSample) {
  testing::ByteCodec codec;
  ChatResponseAccumulator acc(context(&codec), ChatOptions{});
  acc.add(output("<think>\n\n</think>\n\n", {1, 2}, FinishReason::kNone, 2, false));
  acc.add(output("DeepSeek", {3}, FinishReason::kStop, 349, true));
  EXPECT_EQ(dump_json(acc.build()),
            R"({"id":"chatcmpl-1","object":"chat.completion","created":1739001265,)"
            R"("model":"deepseek-ai/DeepSeek-R1-Distill-Llama-8B","choices":[{"index":0,"message":)"
            R"({"role":"assistant","content":"<think>\n\n</think>\n\nDeepSeek","reasoning_content":null,)"
            R"("reasoning":null,"tool_calls":[]},"logprobs":null,"finish_reason":"stop","stop_reason":null}],)"
            R"("usage":{"prompt_tokens":10,"total_tokens":359,"completion_tokens":349,"prompt_tokens_details":null},)"
            R"("prompt_logprobs":null})");
}

TEST(ResponseShapeTest, ChatWithReasoningParser) {
  testing::ByteCodec codec;
  ChatResponseAccumulator acc(context(&codec, ReasoningParserKind::kDeepSeekR1), ChatOptions{});
  acc.add(output("hmm</think>yes", {1}, FinishReason::kLength, 5, true));
  const Json body = acc.build();
  const Json& message = body["choices"][0]["message"];
  EXPECT_EQ(message["reasoning_content"], "hmm");
  EXPECT_EQ(message["reasoning"], "hmm");
  EXPECT_EQ(message["content"], "yes");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "length");
}

TEST(ResponseShapeTest, ChatStreamFraming) {
  testing::ByteCodec codec;
  ChatOptions options;
  options.stream_options.include_usage = true;
  ChatStreamWriter writer(context(&codec), options);
  std::string events = writer.on_output(output("Hel", {1}, FinishReason::kNone, 1, false));
  RequestOutput last = output("lo", {2}, FinishReason::kStop, 2, true);
  last.outputs[0].stop_reason = std::string("\n");
  events += writer.on_output(last);
  events += writer.finish();
  const std::string head = R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":1739001265,)"
                           R"("model":"deepseek-ai/DeepSeek-R1-Distill-Llama-8B",)";
  EXPECT_EQ(events,
            "data: " + head + R"("choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]})" "\n\n"
            "data: " + head + R"("choices":[{"index":0,"delta":{"content":"Hel"},"logprobs":null,"finish_reason":null}]})" "\n\n"
            "data: " + head + R"("choices":[{"index":0,"delta":{"content":"lo"},"logprobs":null,"finish_reason":"stop","stop_reason":"\n"}]})" "\n\n"
            "data: " + head + R"("choices":[],"usage":{"prompt_tokens":10,"total_tokens":12,"completion_tokens":2,"prompt_tokens_details":null}})" "\n\n"
            "data: [DONE]\n\n");
}

TEST(ResponseShapeTest, ChatStreamReasoningDeltas) {
  testing::ByteCodec codec;
  ChatStreamWriter writer(context(&codec, ReasoningParserKind::kDeepSeekR1), ChatOptions{});
  std::string events = writer.on_output(output("why</think>", {1}, FinishReason::kNone, 1, false));
  events += writer.on_output(output("ok", {2}, FinishReason::kStop, 2, true));
  EXPECT_NE(events.find(R"("delta":{"reasoning_content":"why","reasoning":"why"})"), std::string::npos) << events;
  EXPECT_NE(events.find(R"("delta":{"content":"ok"})"), std::string::npos) << events;
}

TEST(ResponseShapeTest, ChatLogprobs) {
  testing::ByteCodec codec;
  ChatOptions options;
  options.logprobs = true;
  options.top_logprobs = 1;
  ChatResponseAccumulator acc(context(&codec), options);
  RequestOutput out = output("A", {65}, FinishReason::kStop, 1, true);
  out.outputs[0].logprobs.push_back(TokenLogprob{65, -0.5f, {{65, -0.5f}, {66, -1.5f}}});
  acc.add(out);
  EXPECT_EQ(dump_json(acc.build()["choices"][0]["logprobs"]),
            R"({"content":[{"token":"A","logprob":-0.5,"bytes":[65],"top_logprobs":[{"token":"A","logprob":-0.5,"bytes":[65]}]}]})");
}

TEST(ResponseShapeTest, CompletionEchoWithLogprobs) {
  testing::ByteCodec codec;
  ResponseContext c = context(&codec);
  c.id = "cmpl-1";
  CompletionOptions options;
  options.echo = true;
  options.logprobs = 1;
  PreparedPrompt prompt{{72, 105}, "Hi"};
  CompletionResponseAccumulator acc(c, options, {prompt});
  RequestOutput out = output("!", {33}, FinishReason::kLength, 1, true);
  out.outputs[0].logprobs.push_back(TokenLogprob{33, -0.25f, {{34, -0.125f}}});
  out.prompt_logprobs = std::vector<std::optional<TokenLogprob>>{std::nullopt, TokenLogprob{105, -2.0f, {{105, -2.0f}}}};
  acc.add(0, out);
  EXPECT_EQ(dump_json(acc.build()),
            R"({"id":"cmpl-1","object":"text_completion","created":1739001265,"model":"deepseek-ai/DeepSeek-R1-Distill-Llama-8B",)"
            R"("choices":[{"index":0,"text":"Hi!","logprobs":{"text_offset":[0,1,2],"token_logprobs":[null,-2.0,-0.25],)"
            R"("tokens":["H","i","!"],"top_logprobs":[null,{"i":-2.0},{"!":-0.25,"\"":-0.125}]},)"
            R"("finish_reason":"length","stop_reason":null,)"
            R"("prompt_logprobs":[null,{"105":{"logprob":-2.0,"rank":1,"decoded_token":"i"}}]}],)"
            R"("usage":{"prompt_tokens":2,"total_tokens":3,"completion_tokens":1,"prompt_tokens_details":null}})");
}

// vLLM's dict per position: the prompt token first with its own rank, then the top ones with
// ranks 1..N; a token that is both keeps its first place and takes the top entry's values;
// -inf becomes -9999.0 (clamp_prompt_logprobs).
TEST(ResponseShapeTest, PromptLogprobsInVllmForm) {
  testing::ByteCodec codec;
  std::vector<std::optional<TokenLogprob>> lps(4);
  lps[0] = TokenLogprob{72, -1.0f, {}, 9};  // position 0 never has one; ignored if set
  TokenLogprob second{105, -3.0f, {{97, -0.5f}, {98, -1.0f}}};
  second.rank = 7;
  lps[1] = second;
  TokenLogprob third{97, -0.25f, {{97, -0.25f}, {99, -2.0f}}};
  third.rank = 1;
  lps[2] = third;
  TokenLogprob fourth{100, -std::numeric_limits<float>::infinity(), {}};
  fourth.rank = 300;
  lps[3] = fourth;
  EXPECT_EQ(dump_json(prompt_logprobs_json(lps, codec)),
            R"([null,{"105":{"logprob":-3.0,"rank":7,"decoded_token":"i"},)"
            R"("97":{"logprob":-0.5,"rank":1,"decoded_token":"a"},"98":{"logprob":-1.0,"rank":2,"decoded_token":"b"}},)"
            R"({"97":{"logprob":-0.25,"rank":1,"decoded_token":"a"},"99":{"logprob":-2.0,"rank":2,"decoded_token":"c"}},)"
            R"({"100":{"logprob":-9999.0,"rank":300,"decoded_token":"d"}}])");
  EXPECT_EQ(dump_json(prompt_logprobs_json(std::nullopt, codec)), "null");
}

// Chat: vLLM puts prompt_logprobs at the response's top level, the choices carry none.
TEST(ResponseShapeTest, ChatPromptLogprobsAtTheTopLevel) {
  testing::ByteCodec codec;
  ChatResponseAccumulator acc(context(&codec), ChatOptions{});
  RequestOutput out = output("x", {120}, FinishReason::kLength, 1, true);
  TokenLogprob lp{105, -2.0f, {{104, -1.0f}}};
  lp.rank = 2;
  out.prompt_logprobs = std::vector<std::optional<TokenLogprob>>{std::nullopt, lp};
  acc.add(out);
  const Json body = acc.build();
  EXPECT_FALSE(body["choices"][0].contains("prompt_logprobs"));
  EXPECT_EQ(dump_json(body["prompt_logprobs"]),
            R"([null,{"105":{"logprob":-2.0,"rank":2,"decoded_token":"i"},"104":{"logprob":-1.0,"rank":1,"decoded_token":"h"}}])");
}

TEST(ResponseShapeTest, CompletionStreamChunks) {
  testing::ByteCodec codec;
  ResponseContext c = context(&codec);
  c.id = "cmpl-1";
  CompletionStreamWriter writer(c, CompletionOptions{}, {PreparedPrompt{{72}, "H"}});
  std::string events = writer.on_output(0, output("ab", {97, 98}, FinishReason::kNone, 2, false));
  events += writer.on_output(0, output("c", {99}, FinishReason::kStop, 3, true));
  events += writer.finish();
  const std::string head = R"(data: {"id":"cmpl-1","object":"text_completion","created":1739001265,"model":"deepseek-ai/DeepSeek-R1-Distill-Llama-8B",)";
  EXPECT_EQ(events, head + R"("choices":[{"index":0,"text":"ab","logprobs":null,"finish_reason":null,"stop_reason":null}]})" "\n\n" +
                        head + R"("choices":[{"index":0,"text":"c","logprobs":null,"finish_reason":"stop","stop_reason":null}]})" "\n\n"
                        "data: [DONE]\n\n");
}

TEST(ResponseShapeTest, ErrorBodyAndIds) {
  EXPECT_EQ(dump_json(error_body(model_not_found("x"))),
            R"({"error":{"message":"The model `x` does not exist.","type":"NotFoundError","param":"model","code":404}})");
  const std::string id = random_uuid4();
  ASSERT_EQ(id.size(), 36u);
  EXPECT_EQ(id[14], '4');
  EXPECT_NE(std::string("89ab").find(id[19]), std::string::npos);
  EXPECT_NE(id, random_uuid4());
}

TEST(ResponseShapeTest, InvalidUtf8InOutputDoesNotThrow) {
  Json j;
  j["text"] = std::string("\xff\xfe");
  EXPECT_EQ(dump_json(j), "{\"text\":\"\xef\xbf\xbd\xef\xbf\xbd\"}");
}

}  // namespace
}  // namespace kiln::api
