// Per-request behaviour through the engine: stop strings, stop tokens, EOS, min/max tokens,
// logprobs, prompt logprobs, abort and submit errors.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "engine_test_util.h"

namespace kiln::testing {
namespace {

TEST(EngineRequestsTest, StopStringSpanningTokensCutsTheTextAndHoldsBackPartialMatches) {
  const std::vector<int32_t> prompt = make_prompt(12, 2);
  const std::vector<int32_t> tokens = reference_greedy(prompt, 20);
  const std::string full = text_of(tokens);
  // A two-character stop string made of the end of token k and the start of token k + 1,
  // chosen where it first occurs in the text.
  int k = -1;
  std::string stop;
  size_t stop_pos = 0;
  for (int i = 2; i < 15 && k < 0; ++i) {
    const size_t end_i = text_of({tokens.begin(), tokens.begin() + i + 1}).size();
    const std::string candidate = full.substr(end_i - 1, 2);
    if (full.find(candidate) == end_i - 1) {
      k = i;
      stop = candidate;
      stop_pos = end_i - 1;
    }
  }
  ASSERT_GE(k, 0) << full;
  for (bool include : {false, true}) {
    EngineRequest r = make_request("s", prompt, 20);
    r.sampling.stop = {stop};
    r.sampling.include_stop_str_in_output = include;
    const RequestResult result = run_alone(r);
    const ChoiceResult& c = result.choices.at(0);
    EXPECT_EQ(c.finish_reason, FinishReason::kStop);
    EXPECT_EQ(std::get<std::string>(c.stop_reason), stop);
    EXPECT_EQ(c.tokens, std::vector<int32_t>(tokens.begin(), tokens.begin() + k + 2));
    EXPECT_EQ(c.text, full.substr(0, stop_pos + (include ? stop.size() : 0)));
    // The step of token k ended with the first character of the stop string: held back.
    std::string streamed;
    for (size_t i = 0; i + 1 < c.deltas.size(); ++i) streamed += c.deltas[i];
    EXPECT_EQ(streamed, full.substr(0, stop_pos));
  }
}

TEST(EngineRequestsTest, StopTokenEosMinTokensAndIgnoreEos) {
  const std::vector<int32_t> prompt = make_prompt(9, 4);
  const std::vector<int32_t> tokens = reference_greedy(prompt, 12);
  const int32_t target = tokens[3];
  const int first = static_cast<int>(std::find(tokens.begin(), tokens.end(), target) - tokens.begin());

  EngineRequest r = make_request("t", prompt, 12);
  r.sampling.stop_token_ids = {target};
  RequestResult result = run_alone(r);
  EXPECT_EQ(result.choices.at(0).tokens.size(), static_cast<size_t>(first + 1));
  EXPECT_EQ(std::get<int32_t>(result.choices.at(0).stop_reason), target);
  EXPECT_EQ(result.choices.at(0).text, text_of({tokens.begin(), tokens.begin() + first}));

  EngineOptions with_eos;
  with_eos.defaults.eos_token_ids = {target};
  result = run_alone(make_request("e", prompt, 12), with_eos);
  EXPECT_EQ(result.choices.at(0).finish_reason, FinishReason::kStop);
  EXPECT_TRUE(std::holds_alternative<std::monostate>(result.choices.at(0).stop_reason));
  EXPECT_EQ(result.choices.at(0).tokens.size(), static_cast<size_t>(first + 1));

  EngineRequest ignoring = make_request("i", prompt, 12);
  ignoring.sampling.ignore_eos = true;
  result = run_alone(ignoring, with_eos);
  EXPECT_EQ(result.choices.at(0).tokens, tokens);
  EXPECT_EQ(result.choices.at(0).finish_reason, FinishReason::kLength);

  EngineRequest min_tokens = make_request("m", prompt, 12);
  min_tokens.sampling.min_tokens = first + 3;
  result = run_alone(min_tokens, with_eos);
  const auto& got = result.choices.at(0).tokens;
  ASSERT_GE(got.size(), static_cast<size_t>(first + 3));
  for (int i = 0; i < first + 2; ++i) EXPECT_NE(got[i], target) << i;
}

TEST(EngineRequestsTest, LogprobsAndPromptLogprobsAreRawModelLogprobs) {
  const std::vector<int32_t> prompt = make_prompt(37, 6);
  EngineRequest r = make_request("lp", prompt, 4);
  r.sampling.logprobs = 3;
  r.sampling.prompt_logprobs = 1;
  r.sampling.repetition_penalty = 1.5f;  // changes sampling, never the reported logprobs
  auto engine = make_engine({.max_num_batched_tokens = 16});  // the prompt comes in 3 chunks
  const RequestResult result = run_all(engine.get(), {r})[0];
  FakeModelExecutor model(kVocab, 1, 1);
  ASSERT_TRUE(result.prompt_logprobs.has_value());
  ASSERT_EQ(result.prompt_logprobs->size(), prompt.size());
  EXPECT_FALSE((*result.prompt_logprobs)[0].has_value());
  for (size_t i = 1; i < prompt.size(); ++i) {
    const auto& entry = (*result.prompt_logprobs)[i];
    ASSERT_TRUE(entry.has_value()) << i;
    const auto lp = log_softmax(model.logits_for({prompt.begin(), prompt.begin() + i}));
    EXPECT_EQ(entry->token_id, prompt[i]);
    EXPECT_FLOAT_EQ(entry->logprob, lp[prompt[i]]);
    EXPECT_EQ(entry->top.size(), 1u);
  }
  const ChoiceResult& c = result.choices.at(0);
  ASSERT_EQ(c.logprobs.size(), 4u);
  std::vector<int32_t> history = prompt;
  for (int i = 0; i < 4; ++i) {
    const auto lp = log_softmax(model.logits_for(history));
    EXPECT_EQ(c.logprobs[i].token_id, c.tokens[i]);
    EXPECT_FLOAT_EQ(c.logprobs[i].logprob, lp[c.tokens[i]]);
    ASSERT_EQ(c.logprobs[i].top.size(), 3u);
    EXPECT_GE(c.logprobs[i].top[0].second, c.logprobs[i].top[1].second);
    history.push_back(c.tokens[i]);
  }
}

TEST(EngineRequestsTest, AbortFinishesTheRequestAndFreesItsBlocks) {
  auto engine = make_engine({.step_delay_ms = 2});  // 900 tokens take far longer than the abort
  auto stream = RequestStream::open(engine.get(), make_request("long", make_prompt(50, 1), 900));
  ASSERT_TRUE(stream.ok());
  auto first = (*stream)->next();
  ASSERT_TRUE(first.has_value());
  engine->abort("long");
  engine->abort("unknown-id");  // ignored
  FinishReason reason = FinishReason::kNone;
  while (auto out = (*stream)->next()) {
    for (const auto& c : out->outputs) {
      if (c.finish_reason != FinishReason::kNone) reason = c.finish_reason;
    }
  }
  EXPECT_EQ(reason, FinishReason::kAbort);
  EXPECT_EQ(engine->stats().kv_cache_usage, 0.0);
  EXPECT_EQ(engine->stats().num_running, 0);
  // The id can be used again once finished.
  EXPECT_TRUE(run_all(engine.get(), {make_request("long", make_prompt(5, 1), 2)})[0].error.empty());
}

TEST(EngineRequestsTest, DroppingAStreamAbortsAndManyClientsCanSubmitConcurrently) {
  auto engine = make_engine({.num_blocks = 64, .step_delay_ms = 1});
  {
    auto stream = RequestStream::open(engine.get(), make_request("dropped", make_prompt(20, 2), 500));
    ASSERT_TRUE(stream.ok());
    ASSERT_TRUE((*stream)->next().has_value());
  }
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  for (int t = 0; t < 4; ++t) {
    clients.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        auto req = make_request("c" + std::to_string(t) + "-" + std::to_string(i),
                                make_prompt(5 + i, t), 6);
        auto expected = reference_greedy(req.prompt_token_ids, 6);
        auto results = run_all(engine.get(), {req});
        if (results[0].choices.at(0).tokens == expected) ++ok;
      }
    });
  }
  for (auto& c : clients) c.join();
  EXPECT_EQ(ok.load(), 20);
  EXPECT_EQ(engine->stats().kv_cache_usage, 0.0);
}

TEST(EngineRequestsTest, SubmitRejectsRequestsThatCanNeverRun) {
  auto engine = make_engine({.num_blocks = 8, .max_model_len = 200, .step_delay_ms = 5});
  auto noop = [](RequestOutput) {};
  EXPECT_FALSE(engine->submit(make_request("", {1}, 1), noop).ok());
  EXPECT_FALSE(engine->submit(make_request("a", {}, 1), noop).ok());
  EXPECT_FALSE(engine->submit(make_request("a", {1, kVocab}, 1), noop).ok());
  EXPECT_FALSE(engine->submit(make_request("a", {1, -1}, 1), noop).ok());
  EXPECT_FALSE(engine->submit(make_request("a", {1}, 0), noop).ok());
  const Status too_long = engine->submit(make_request("a", make_prompt(150, 1), 60), noop);
  EXPECT_NE(too_long.message().find("max_model_len"), std::string::npos) << too_long.message();
  const Status too_big = engine->submit(make_request("a", make_prompt(150, 1), 10), noop);
  EXPECT_NE(too_big.message().find("KV blocks"), std::string::npos) << too_big.message();
  EngineRequest n0 = make_request("a", {1}, 1);
  n0.sampling.n = 0;
  EXPECT_FALSE(engine->submit(n0, noop).ok());
  auto stream = RequestStream::open(engine.get(), make_request("dup", make_prompt(4, 1), 100));
  ASSERT_TRUE(stream.ok());
  EXPECT_FALSE(engine->submit(make_request("dup", {1}, 1), noop).ok());
}

}  // namespace
}  // namespace kiln::testing
