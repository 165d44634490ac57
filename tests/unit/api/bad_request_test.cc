// A table of bad requests: each must get the right status, error type, param and message, and
// nothing may crash. The pipeline is the server's: parse, model check, render + tokenize, and
// the context-length check (max_model_len 100 here).
#include <gtest/gtest.h>

#include <random>

#include "api/openai_request.h"
#include "api/request_preparation.h"
#include "fake_codec.h"

namespace kiln::api {
namespace {

constexpr int kMaxModelLen = 100;

std::optional<ApiError> run_chat(const std::string& body) {
  ParseLimits limits;
  limits.vocab_size = 300;
  auto request = parse_chat_request(body, limits);
  if (!request.ok()) return request.error();
  if (auto error = check_model_name(request.value().model, "m")) return error;
  testing::ByteCodec codec;
  testing::TagRenderer renderer;
  auto prompt = prepare_chat_prompt(request.value(), renderer, codec);
  if (!prompt.ok()) return prompt.error();
  auto sampling = resolve_max_tokens(request.value().sampling, request.value().max_tokens, std::nullopt,
                                     static_cast<int>(prompt.value().token_ids.size()), kMaxModelLen);
  if (!sampling.ok()) return sampling.error();
  return std::nullopt;
}

std::optional<ApiError> run_completion(const std::string& body) {
  ParseLimits limits;
  limits.vocab_size = 300;
  auto request = parse_completion_request(body, limits);
  if (!request.ok()) return request.error();
  if (auto error = check_model_name(request.value().model, "m")) return error;
  testing::ByteCodec codec;
  for (const PromptInput& input : request.value().prompts) {
    auto prompt = prepare_completion_prompt(input, request.value().add_special_tokens, codec);
    if (!prompt.ok()) return prompt.error();
    auto sampling = resolve_max_tokens(request.value().sampling, request.value().max_tokens, 16,
                                       static_cast<int>(prompt.value().token_ids.size()), kMaxModelLen);
    if (!sampling.ok()) return sampling.error();
  }
  return std::nullopt;
}

struct BadCase {
  bool chat;
  std::string body;
  int status;
  const char* param;  // nullptr: param must be null
  std::string message_part;
};

const std::string kMsgs = R"("messages":[{"role":"user","content":"hi"}])";
std::string chat(const std::string& extra) { return "{" + kMsgs + (extra.empty() ? "" : "," + extra) + "}"; }
std::string comp(const std::string& extra) {
  return std::string(R"({"prompt":"hi")") + (extra.empty() ? "" : "," + extra) + "}";
}

const std::vector<BadCase>& bad_cases() {
  static const std::vector<BadCase> cases = {
      {true, "", 400, nullptr, "Invalid JSON"},
      {true, "{", 400, nullptr, "Invalid JSON"},
      {true, "[1,2]", 400, nullptr, "must be a JSON object"},
      {true, "\"text\"", 400, nullptr, "must be a JSON object"},
      {true, R"({"messages":[{"role":"user","content":"hi"}],"temperature":NaN})", 400, nullptr, "Invalid JSON"},
      {true, "{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}", 400, nullptr, "UTF-8"},
      {true, "{}", 400, "messages", "'messages' is required"},
      {true, R"({"messages":"hi"})", 400, "messages", "must be a list"},
      {true, R"({"messages":[]})", 400, "messages", "must not be empty"},
      {true, R"({"messages":[1]})", 400, "messages[0]", "must be an object"},
      {true, R"({"messages":[{"content":"x"}]})", 400, "messages[0].role", "role"},
      {true, R"({"messages":[{"role":"user","content":5}]})", 400, "messages[0].content", "content"},
      {true, R"({"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]})", 400,
       "messages[0].content[0]", "not supported"},
      {true, R"({"messages":[{"role":"user","content":[{"type":"text"}]}]})", 400, "messages[0].content[0].text",
       "must be a string"},
      {true, chat(R"("model":"gpt-4")"), 404, "model", "The model `gpt-4` does not exist."},
      {true, chat(R"("model":5)"), 400, "model", "must be a string"},
      {true, chat(R"("temperature":-1)"), 400, "temperature", "temperature must be non-negative, got -1.0."},
      {true, chat(R"("temperature":"hot")"), 400, "temperature", "must be a number, got a string"},
      {true, chat(R"("temperature":1e999)"), 400, nullptr, "number overflow"},
      {true, chat(R"("top_p":0)"), 400, "top_p", "top_p must be in (0, 1], got 0.0."},
      {true, chat(R"("top_p":1.5)"), 400, "top_p", "top_p must be in (0, 1], got 1.5."},
      {true, chat(R"("top_k":-2)"), 400, "top_k", "top_k must be"},
      {true, chat(R"("top_k":1.5)"), 400, "top_k", "must be an integer"},
      {true, chat(R"("min_p":2)"), 400, "min_p", "min_p must be in [0, 1]"},
      {true, chat(R"("presence_penalty":3)"), 400, "presence_penalty", "presence_penalty must be in [-2, 2]"},
      {true, chat(R"("frequency_penalty":-2.5)"), 400, "frequency_penalty", "frequency_penalty must be in [-2, 2]"},
      {true, chat(R"("repetition_penalty":0)"), 400, "repetition_penalty", "greater than zero"},
      {true, chat(R"("n":0)"), 400, "n", "n must be at least 1, got 0."},
      {true, chat(R"("n":100000)"), 400, "n", "n must be at most"},
      {true, chat(R"("n":true)"), 400, "n", "must be an integer, got a boolean"},
      {true, chat(R"("max_tokens":0)"), 400, "max_tokens", "max_tokens must be at least 1, got 0."},
      {true, chat(R"("max_tokens":-5)"), 400, "max_tokens", "at least 1"},
      {true, chat(R"("max_completion_tokens":"x")"), 400, "max_completion_tokens", "must be an integer"},
      {true, chat(R"("max_tokens":95)"), 400, "max_tokens",
       "'max_tokens' or 'max_completion_tokens' is too large: 95. This model's maximum context length is 100 "
       "tokens and your request has 19 input tokens (95 > 100 - 19)."},
      {true, "{\"messages\":[{\"role\":\"user\",\"content\":\"" + std::string(120, 'a') + "\"}]}", 400, "messages",
       "This model's maximum context length is 100 tokens. However, your request has 137 input tokens. Please "
       "reduce the length of the input messages."},
      {true, chat(R"("min_tokens":-1)"), 400, "min_tokens", "min_tokens must be greater than or equal to 0"},
      {true, chat(R"("min_tokens":10,"max_tokens":5)"), 400, "min_tokens", "less than or equal to max_tokens=5"},
      {true, chat(R"("stop":5)"), 400, "stop", "string or a list of strings"},
      {true, chat(R"("stop":["a",1])"), 400, "stop", "list holding an integer"},
      {true, chat(R"("stop_token_ids":[1,-1])"), 400, "stop_token_ids", "integers in [0, 299]"},
      {true, chat(R"("logit_bias":{"abc":1})"), 400, "logit_bias", "not a token id"},
      {true, chat(R"("logit_bias":{"5":500})"), 400, "logit_bias", "[-100, 100]"},
      {true, chat(R"("logit_bias":[1])"), 400, "logit_bias", "must be an object"},
      {true, chat(R"("logprobs":"yes")"), 400, "logprobs", "must be a boolean"},
      {true, chat(R"("top_logprobs":3)"), 400, "top_logprobs", "`logprobs` must be set to true"},
      {true, chat(R"("logprobs":true,"top_logprobs":-1)"), 400, "top_logprobs", "positive value"},
      {true, chat(R"("logprobs":true,"top_logprobs":21)"), 400, "top_logprobs",
       "Requested sample logprobs of 21, which is greater than max allowed: 20"},
      {true, chat(R"("stream_options":{"include_usage":true})"), 400, "stream_options",
       "Stream options can only be defined when `stream=True`."},
      {true, chat(R"("stream":true,"stream_options":{"include_usage":1})"), 400, "stream_options.include_usage",
       "must be a boolean"},
      {true, chat(R"("stream":"yes")"), 400, "stream", "must be a boolean"},
      {true, chat(R"("stream":true,"prompt_logprobs":1)"), 400, "prompt_logprobs", "not available when `stream=True`"},
      {true, chat(R"("prompt_logprobs":-3)"), 400, "prompt_logprobs", "`prompt_logprobs` must be a positive value or -1."},
      {true, chat(R"("stream":true,"prompt_logprobs":-1)"), 400, "prompt_logprobs", "not available when `stream=True`"},
      {true, chat(R"("prompt_logprobs":21)"), 400, "prompt_logprobs",
       "Requested prompt logprobs of 21, which is greater than max allowed: 20"},
      {false, comp(R"("prompt_logprobs":-1)"), 400, "prompt_logprobs",
       "Requested prompt logprobs of 300, which is greater than max allowed: 20"},
      {false, comp(R"("prompt_logprobs":"2")"), 400, "prompt_logprobs", "must be an integer"},
      {true, chat(R"("seed":"x")"), 400, "seed", "must be an integer"},
      {true, chat(R"("continue_final_message":true)"), 400, "continue_final_message", "Cannot set both"},
      {true, chat(R"("tools":{})"), 400, "tools", "must be a list"},
      {true, chat(R"("chat_template_kwargs":[])"), 400, "chat_template_kwargs", "must be an object"},
      {true, R"({"messages":[{"role":"fail","content":"x"}]})", 400, "messages", "template error"},
      {true, R"({"messages":[{"role":"user","content":"a\u0001b"}]})", 400, "messages", "cannot encode"},
      {false, "{}", 400, "prompt", "'prompt' is required"},
      {false, R"({"prompt":5})", 400, "prompt", "'prompt' must be a string"},
      {false, R"({"prompt":[]})", 400, "prompt", "Prompt cannot be empty"},
      {false, R"({"prompt":[[]]})", 400, "prompt", "Prompt cannot be empty"},
      {false, R"({"prompt":[1,"a"]})", 400, "prompt", "'prompt' must be a string"},
      {false, R"({"prompt":[1,100000]})", 400, "prompt", "Token id 100000 is out of vocabulary"},
      {false, R"({"prompt":[-1]})", 400, "prompt", "out of vocabulary"},
      {false, R"({"prompt":[{"a":1}]})", 400, "prompt", "'prompt' must be a string"},
      {false, comp(R"("logprobs":-1)"), 400, "logprobs", "logprobs must be non-negative, got -1."},
      {false, comp(R"("logprobs":50)"), 400, "logprobs", "greater than max allowed: 20"},
      {false, comp(R"("echo":"yes")"), 400, "echo", "must be a boolean"},
      {false, comp(R"("suffix":"x")"), 400, "suffix", "suffix is not currently supported"},
      {false, comp(R"("max_tokens":99)"), 400, "max_tokens", "is too large: 99"},
      {false, R"({"prompt":")" + std::string(100, 'b') + "\"}", 400, "messages",
       "However, your request has 101 input tokens"},
      {false, comp(R"("model":"other")"), 404, "model", "The model `other` does not exist."},
      {false, comp(R"("n":-1)"), 400, "n", "n must be at least 1"},
  };
  return cases;
}

TEST(BadRequestTest, EveryCaseGetsItsStatusParamAndMessage) {
  ASSERT_GE(bad_cases().size(), 40u);
  for (const BadCase& c : bad_cases()) {
    SCOPED_TRACE(c.body);
    const std::optional<ApiError> error = c.chat ? run_chat(c.body) : run_completion(c.body);
    ASSERT_TRUE(error.has_value());
    EXPECT_EQ(error->status, c.status);
    EXPECT_NE(error->message.find(c.message_part), std::string::npos) << error->message;
    if (c.param) {
      EXPECT_EQ(error->param.value_or("<null>"), c.param);
    } else {
      EXPECT_FALSE(error->param.has_value());
    }
    const Json body = error_body(*error);
    EXPECT_EQ(body["error"]["code"], c.status);
    EXPECT_EQ(body["error"]["type"], error_type_for_status(c.status));
    EXPECT_EQ(body["error"]["message"], error->message);
  }
}

TEST(BadRequestTest, GoodRequestsPassAndUnknownFieldsAreIgnored) {
  EXPECT_FALSE(run_chat(chat(R"("model":"m","frobnicate":{"x":[1,2]},"temperature":0.5,"stop":"x")")));
  EXPECT_FALSE(run_chat(R"({"messages":[{"role":"user","content":[{"type":"text","text":"a"},"b"]}]})"));
  EXPECT_FALSE(run_completion(R"({"prompt":["a","b"],"echo":true,"logprobs":2})"));
  EXPECT_FALSE(run_completion(R"({"prompt":[[1,2],[3]],"max_tokens":5.0})"));
  EXPECT_FALSE(run_completion(R"({"prompt":[1,2,3],"n":2,"seed":-5})"));
  // vLLM refuses prompt_logprobs with stream only when it would return some (> 0 or -1).
  EXPECT_FALSE(run_completion(R"({"prompt":"a","stream":true,"prompt_logprobs":0})"));
  EXPECT_FALSE(run_chat(chat(R"("prompt_logprobs":20)")));
}

TEST(BadRequestTest, PromptLogprobsAreReadAndMinusOneMeansTheVocabulary) {
  ParseLimits limits;
  limits.vocab_size = 300;
  auto request = parse_completion_request(R"({"prompt":"a","prompt_logprobs":3})", limits);
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(request.value().sampling.prompt_logprobs, 3);
  // Echo with logprobs asks the engine for the prompt's logprobs (vLLM: prompt_logprobs wins).
  request = parse_completion_request(R"({"prompt":"a","echo":true,"logprobs":2})", limits);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request.value().sampling.prompt_logprobs, 2);
  request = parse_completion_request(R"({"prompt":"a","echo":true,"logprobs":2,"prompt_logprobs":4})", limits);
  ASSERT_TRUE(request.ok());
  EXPECT_EQ(request.value().sampling.prompt_logprobs, 4);
  limits.max_logprobs = 1000;
  request = parse_completion_request(R"({"prompt":"a","prompt_logprobs":-1})", limits);
  ASSERT_TRUE(request.ok()) << request.error().message;
  EXPECT_EQ(request.value().sampling.prompt_logprobs, 300);
}

TEST(BadRequestTest, ChatFieldsAreRead) {
  ParseLimits limits;
  auto request = parse_chat_request(
      chat(R"("max_tokens":7,"max_completion_tokens":9,"temperature":0,"top_k":5,"n":2,"stop":["a","b"],)"
           R"("logprobs":true,"top_logprobs":3,"stream":true,"stream_options":{"include_usage":true},)"
           R"("logit_bias":{"12":-100},"seed":42,"ignore_eos":true,"chat_template_kwargs":{"x":1})"),
      limits);
  ASSERT_TRUE(request.ok()) << request.error().message;
  const ChatCompletionRequest& r = request.value();
  EXPECT_EQ(r.max_tokens, 9);
  EXPECT_EQ(r.sampling.temperature, 0.0f);
  EXPECT_EQ(r.sampling.top_k, 5);
  EXPECT_EQ(r.sampling.n, 2);
  EXPECT_EQ(r.sampling.stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(r.sampling.logprobs, 3);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.stream_options.include_usage);
  EXPECT_EQ(r.sampling.logit_bias.at(12), -100.0f);
  EXPECT_EQ(r.sampling.seed, 42u);
  EXPECT_TRUE(r.sampling.ignore_eos);
  EXPECT_EQ(r.chat_template_kwargs["x"], 1);
}

TEST(BadRequestTest, MaxTokensDefaultsFillTheContext) {
  SamplingParams sampling;
  auto chat_sampling = resolve_max_tokens(sampling, std::nullopt, std::nullopt, 30, 100);
  ASSERT_TRUE(chat_sampling.ok());
  EXPECT_EQ(chat_sampling.value().max_tokens, 70);
  auto completion_sampling = resolve_max_tokens(sampling, std::nullopt, 16, 30, 100);
  ASSERT_TRUE(completion_sampling.ok());
  EXPECT_EQ(completion_sampling.value().max_tokens, 16);
}

// Random and mutated bodies: the parser answers every one (value or 4xx) and never crashes.
TEST(BadRequestTest, FuzzedBodiesNeverCrash) {
  std::mt19937 rng(1234);
  const std::vector<std::string> seeds = {
      chat(R"("temperature":0.5,"stop":["x"],"logit_bias":{"1":2},"stream":true,"stream_options":{}")"),
      R"({"prompt":[[1,2],[3,4]],"echo":true,"logprobs":1,"n":2})",
  };
  for (int round = 0; round < 3000; ++round) {
    std::string body = seeds[static_cast<size_t>(round) % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !body.empty(); ++e) {
      const size_t pos = rng() % body.size();
      switch (rng() % 3) {
        case 0: body[pos] = static_cast<char>(rng() % 256); break;
        case 1: body.erase(pos, 1 + rng() % 3); break;
        default: body.insert(pos, 1, "{}[]\",:0-e.9tfn\\"[rng() % 16]); break;
      }
    }
    const auto error = round % 2 == 0 ? run_chat(body) : run_completion(body);
    if (error) {
      EXPECT_GE(error->status, 400);
      EXPECT_LT(error->status, 500);
      EXPECT_FALSE(error->message.empty());
      EXPECT_NO_THROW(dump_json(error_body(*error)));
    }
  }
}

}  // namespace
}  // namespace kiln::api
