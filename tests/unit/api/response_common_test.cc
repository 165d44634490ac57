// The pieces chat and completions responses share: the envelope, a choice accumulated from
// outputs, and the streaming frame.
#include "api/response_common.h"

#include <gtest/gtest.h>

namespace kiln::api {
namespace {

ResponseContext context() {
  ResponseContext c;
  c.id = "cmpl-1";
  c.created = 1700000000;
  c.model = "m";
  return c;
}

std::vector<Json> events_of(const std::string& sse) {
  std::vector<Json> events;
  size_t pos = 0;
  while ((pos = sse.find("data: ", pos)) != std::string::npos) {
    const size_t end = sse.find("\n\n", pos);
    const std::string data = sse.substr(pos + 6, end - pos - 6);
    events.push_back(data == "[DONE]" ? Json("[DONE]") : Json::parse(data));
    pos = end;
  }
  return events;
}

TEST(ResponseCommonTest, AccumulatedChoiceKeepsTextTokensAndTheFinish) {
  AccumulatedChoice choice;
  CompletionOutput first;
  first.text_delta = "Hel";
  first.new_token_ids = {1};
  first.num_output_tokens = 1;
  choice.add(first);
  CompletionOutput last;
  last.text_delta = "lo";
  last.new_token_ids = {2};
  last.num_output_tokens = 2;
  last.finish_reason = FinishReason::kStop;
  last.stop_reason = std::string("\n");
  choice.add(last);
  EXPECT_EQ(choice.text, "Hello");
  EXPECT_EQ(choice.token_ids, (std::vector<int32_t>{1, 2}));
  EXPECT_EQ(choice.num_tokens, 2);
  Json entry;
  choice.put_finish(&entry);
  EXPECT_EQ(entry["finish_reason"], "stop");
  EXPECT_EQ(entry["stop_reason"], "\n");
}

TEST(ResponseCommonTest, ChunkStreamFramesChunksUsageAndDone) {
  StreamOptions plain;
  const ChunkStream bare(context(), "text_completion", plain);
  auto events = events_of(bare.event(Json::array({Json{{"index", 0}}}), {3, 1, 0}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0]["id"], "cmpl-1");
  EXPECT_EQ(events[0]["object"], "text_completion");
  EXPECT_EQ(events[0]["created"], 1700000000);
  EXPECT_EQ(events[0]["model"], "m");
  EXPECT_FALSE(events[0].contains("usage"));
  events = events_of(bare.finish({3, 1, 0}));
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0], "[DONE]");

  StreamOptions usage;
  usage.include_usage = true;
  usage.continuous_usage_stats = true;
  const ChunkStream counted(context(), "chat.completion.chunk", usage);
  events = events_of(counted.event(Json::array(), {3, 1, 0}));
  EXPECT_EQ(events[0]["usage"]["total_tokens"], 4);
  events = events_of(counted.finish({3, 2, 0}));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_TRUE(events[0]["choices"].empty());
  EXPECT_EQ(events[0]["usage"]["completion_tokens"], 2);
  EXPECT_EQ(events[1], "[DONE]");
}

}  // namespace
}  // namespace kiln::api
