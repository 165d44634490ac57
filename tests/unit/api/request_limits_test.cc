// The limits a request body meets before any work is done for it (issue 15): JSON nesting
// (~50,000 brackets in a 100 KB body overflowed the stack wherever the value was copied or
// dumped), sequences per request (3,000 prompts x n=128 queued 384k sequences from a 45 KB
// body), and a request's own chat template (refused unless --trust-request-chat-template).
#include <gtest/gtest.h>

#include <string>

#include "api/openai_request.h"

namespace kiln::api {
namespace {

std::string nested(int depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string chat_with(const std::string& extra) {
  return R"({"messages":[{"role":"user","content":"hi"}])" + extra + "}";
}

TEST(RequestLimits, DeepJsonAnywhereGets400NamingTheLimit) {
  const ParseLimits limits;
  const std::string deep = nested(50000);
  for (const std::string& body : {chat_with(R"(,"tools":)" + deep), chat_with(R"(,"chat_template_kwargs":{"x":)" + deep + "}"),
                                  std::string(R"({"messages":[{"role":"user","content":"hi","extra":)") + deep + "}]}",
                                  std::string(R"({"prompt":)") + deep + "}"}) {
    auto chat = parse_chat_request(body, limits);
    ASSERT_FALSE(chat.ok());
    EXPECT_EQ(chat.error().status, 400);
    EXPECT_NE(chat.error().message.find("deeper than 128 levels"), std::string::npos) << chat.error().message;
    auto completion = parse_completion_request(body, limits);
    ASSERT_FALSE(completion.ok());
    EXPECT_NE(completion.error().message.find("deeper than 128 levels"), std::string::npos);
    auto object = parse_json_object(body);
    EXPECT_FALSE(object.ok());
  }
}

TEST(RequestLimits, NestingUpToTheLimitIsAccepted) {
  const ParseLimits limits;
  // The body's object and an ignored field's list are two levels; 126 more reach the limit exactly.
  auto at_limit = parse_chat_request(chat_with(R"(,"x_unknown":[)" + nested(126) + "]"), limits);
  EXPECT_TRUE(at_limit.ok()) << at_limit.error().message;
  auto over = parse_chat_request(chat_with(R"(,"x_unknown":[)" + nested(127) + "]"), limits);
  EXPECT_FALSE(over.ok());
  // Brackets inside strings are text.
  auto text = parse_chat_request(R"({"messages":[{"role":"user","content":")" + std::string(1000, '[') + R"("}]})",
                                 limits);
  EXPECT_TRUE(text.ok());
}

TEST(RequestLimits, SequencesPerRequestAreCapped) {
  ParseLimits limits;
  std::string prompts = "[";
  for (int i = 0; i < 3000; ++i) prompts += std::string(i ? "," : "") + "\"x\"";
  prompts += "]";
  auto refused = parse_completion_request(R"({"prompt":)" + prompts + R"(,"n":128})", limits);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().status, 400);
  EXPECT_EQ(refused.error().param, "prompt");
  EXPECT_NE(refused.error().message.find("384000 sequences (3000 prompts x n=128)"), std::string::npos)
      << refused.error().message;
  EXPECT_NE(refused.error().message.find("limit of 4096 per request (--max-seqs-per-request)"), std::string::npos);
  // At the limit exactly: accepted.
  auto at_limit = parse_completion_request(R"({"prompt":)" + prompts + R"(,"n":1})", limits);
  EXPECT_TRUE(at_limit.ok());
  limits.max_sequences_per_request = 2999;
  EXPECT_FALSE(parse_completion_request(R"({"prompt":)" + prompts + "}", limits).ok());
  limits.max_sequences_per_request = 8;
  EXPECT_TRUE(parse_completion_request(R"({"prompt":["a","b"],"n":4})", limits).ok());
  EXPECT_FALSE(parse_completion_request(R"({"prompt":["a","b","c"],"n":3})", limits).ok());
}

TEST(RequestLimits, RequestChatTemplateNeedsTrust) {
  ParseLimits limits;
  const std::string own = chat_with(R"(,"chat_template":"{{ messages }}")");
  const std::string via_kwargs = chat_with(R"(,"chat_template_kwargs":{"chat_template":"{{ messages }}"})");
  for (const std::string& body : {own, via_kwargs}) {
    auto refused = parse_chat_request(body, limits);
    ASSERT_FALSE(refused.ok());
    EXPECT_EQ(refused.error().status, 400);
    EXPECT_EQ(refused.error().message,
              "Chat template is passed with request, but --trust-request-chat-template is not set. "
              "Refused request with untrusted chat template.");
  }
  limits.trust_request_chat_template = true;
  for (const std::string& body : {own, via_kwargs}) {
    auto trusted = parse_chat_request(body, limits);
    ASSERT_TRUE(trusted.ok());
    EXPECT_EQ(trusted.value().chat_template, "{{ messages }}");
  }
  EXPECT_FALSE(parse_chat_request(chat_with(R"(,"chat_template_kwargs":{"chat_template":3})"), limits).ok());
}

}  // namespace
}  // namespace kiln::api
