#include "api/reasoning_parser.h"

#include <gtest/gtest.h>

#include <random>

namespace kiln::api {
namespace {

TEST(ReasoningParserTest, SplitsAtEndTag) {
  ReasoningSplit split = split_reasoning("I think.\n</think>\n\nAnswer.");
  EXPECT_EQ(split.reasoning, "I think.\n");
  EXPECT_EQ(split.content, "\n\nAnswer.");
}

TEST(ReasoningParserTest, OpeningTagIsDropped) {
  ReasoningSplit split = split_reasoning("<think>\nhmm</think>ok");
  EXPECT_EQ(split.reasoning, "\nhmm");
  EXPECT_EQ(split.content, "ok");
}

TEST(ReasoningParserTest, WithoutEndTagEverythingIsReasoningAndContentIsNull) {
  ReasoningSplit split = split_reasoning("still thinking <thi");
  EXPECT_EQ(split.reasoning, "still thinking <thi");
  EXPECT_FALSE(split.content.has_value());
}

TEST(ReasoningParserTest, EmptyContentAfterEndTagIsNull) {
  ReasoningSplit split = split_reasoning("why</think>");
  EXPECT_EQ(split.reasoning, "why");
  EXPECT_FALSE(split.content.has_value());
}

TEST(ReasoningParserTest, GuideSampleSplits) {
  ReasoningSplit split = split_reasoning("<think>\n\n</think>\n\nDeepSeek is a powerful AI");
  EXPECT_EQ(split.reasoning, "\n\n");
  EXPECT_EQ(split.content, "\n\nDeepSeek is a powerful AI");
}

TEST(ReasoningParserTest, ParsesNames) {
  EXPECT_EQ(parse_reasoning_parser_name("deepseek_r1"), ReasoningParserKind::kDeepSeekR1);
  EXPECT_EQ(parse_reasoning_parser_name("none"), ReasoningParserKind::kNone);
  EXPECT_FALSE(parse_reasoning_parser_name("qwen9").has_value());
}

// Streaming over any split into deltas gives the same reasoning and content in total.
TEST(ReasoningParserTest, StreamingEqualsWholeForAnyDeltaBoundaries) {
  const std::vector<std::string> outputs = {
      "<think>\nLet me see. 2+2 is 4.\n</think>\n\nThe answer is 4.",
      "no opening tag, reasoning here</think>content after",
      "no end tag at all < / think > <thin",
      "<think>only reasoning",
      "</think>",
      "<think></think>",
      "a</think>b</think>c",
      "<thi",
      "",
      "x<think>y</think>z",
      "</thin</think>k",
      "\xe4\xbd\xa0\xe5\xa5\xbd</think>\xe5\x86\x8d",
  };
  std::mt19937 rng(7);
  for (const std::string& output : outputs) {
    const ReasoningSplit whole = split_reasoning(output);
    for (int trial = 0; trial < 200; ++trial) {
      ReasoningStreamParser parser;
      std::string reasoning, content;
      bool any_content = false;
      size_t pos = 0;
      while (pos < output.size()) {
        const size_t len = 1 + rng() % 5;
        ReasoningSplit part = parser.feed(std::string_view(output).substr(pos, len));
        pos += len;
        if (part.reasoning) reasoning += *part.reasoning;
        if (part.content) {
          content += *part.content;
          any_content = true;
        }
      }
      ReasoningSplit rest = parser.flush();
      if (rest.reasoning) reasoning += *rest.reasoning;
      if (rest.content) {
        content += *rest.content;
        any_content = true;
      }
      SCOPED_TRACE(output);
      EXPECT_EQ(reasoning, whole.reasoning.value_or(""));
      EXPECT_EQ(content, whole.content.value_or(""));
      EXPECT_EQ(any_content, whole.content.has_value());
    }
  }
}

TEST(ReasoningParserTest, StreamingSendsReasoningBeforeTheEndTagArrives) {
  ReasoningStreamParser parser;
  ReasoningSplit first = parser.feed("Okay, so");
  EXPECT_EQ(first.reasoning, "Okay, so");
  ReasoningSplit held = parser.feed(" done</th");
  EXPECT_EQ(held.reasoning, " done");
  ReasoningSplit end = parser.feed("ink>Hi");
  EXPECT_FALSE(end.reasoning.has_value());
  EXPECT_EQ(end.content, "Hi");
}

}  // namespace
}  // namespace kiln::api
