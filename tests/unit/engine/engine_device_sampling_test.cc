// The engine with a backend that samples on its device (here the sampling operator's CPU twin
// behind execute_and_sample) gives the same tokens, logprobs and prompt logprobs as the engine's
// own sampler: the device path is a drop-in for every sampling setting a request can carry.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/device_sampling.h"
#include "engine_test_util.h"

namespace kiln::testing {
namespace {

std::vector<EngineRequest> mixed_requests() {
  std::vector<EngineRequest> requests;
  auto add = [&](const std::string& id, int prompt_length, int salt, float temperature) -> EngineRequest& {
    requests.push_back(make_request(id, make_prompt(prompt_length, salt), 24, temperature));
    requests.back().sampling.seed = 1000 + salt;
    return requests.back();
  };
  add("greedy", 20, 1, 0.0f);
  add("plain", 33, 2, 1.0f);
  add("cold", 9, 3, 0.6f).sampling.top_p = 0.95f;
  add("top-k", 50, 4, 0.8f).sampling.top_k = 5;
  add("min-p", 17, 5, 1.3f).sampling.min_p = 0.2f;
  EngineRequest& all = add("all", 41, 6, 0.7f);
  all.sampling.top_k = 40;
  all.sampling.top_p = 0.8f;
  all.sampling.min_p = 0.05f;
  EngineRequest& penalties = add("penalties", 25, 7, 0.9f);
  penalties.sampling.repetition_penalty = 1.3f;
  penalties.sampling.frequency_penalty = 0.4f;
  penalties.sampling.presence_penalty = 0.3f;
  penalties.sampling.logit_bias = {{3, 5.0f}, {4, -100.0f}};
  EngineRequest& blocked = add("min-tokens", 12, 8, 0.0f);
  blocked.sampling.min_tokens = 10;
  blocked.sampling.stop_token_ids = {7, 8, 9};
  EngineRequest& logprobs = add("logprobs", 30, 9, 1.0f);
  logprobs.sampling.logprobs = 5;
  logprobs.sampling.prompt_logprobs = 2;
  return requests;
}

TEST(EngineDeviceSamplingTest, SameOutputsAsTheHostSampler) {
  auto host = make_engine({.max_num_batched_tokens = 32});
  auto device = make_engine({.max_num_batched_tokens = 32, .device_sampling = true});
  const std::vector<RequestResult> expected = run_all(host.get(), mixed_requests());
  const std::vector<RequestResult> actual = run_all(device.get(), mixed_requests());
  ASSERT_EQ(expected.size(), actual.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    SCOPED_TRACE(mixed_requests()[i].request_id);
    const ChoiceResult& want = expected[i].choices.at(0);
    const ChoiceResult& got = actual[i].choices.at(0);
    EXPECT_EQ(got.tokens, want.tokens);
    EXPECT_EQ(got.finish_reason, want.finish_reason);
    ASSERT_EQ(got.logprobs.size(), want.logprobs.size());
    for (size_t t = 0; t < want.logprobs.size(); ++t) {
      EXPECT_EQ(got.logprobs[t].token_id, want.logprobs[t].token_id);
      EXPECT_NEAR(got.logprobs[t].logprob, want.logprobs[t].logprob, 1e-5);
      ASSERT_EQ(got.logprobs[t].top.size(), want.logprobs[t].top.size());
      for (size_t k = 0; k < want.logprobs[t].top.size(); ++k) {
        EXPECT_EQ(got.logprobs[t].top[k].first, want.logprobs[t].top[k].first);
        EXPECT_NEAR(got.logprobs[t].top[k].second, want.logprobs[t].top[k].second, 1e-5);
      }
    }
    EXPECT_EQ(actual[i].prompt_logprobs.has_value(), expected[i].prompt_logprobs.has_value());
    if (expected[i].prompt_logprobs) {
      ASSERT_EQ(actual[i].prompt_logprobs->size(), expected[i].prompt_logprobs->size());
      for (size_t p = 1; p < expected[i].prompt_logprobs->size(); ++p) {
        EXPECT_FLOAT_EQ((*actual[i].prompt_logprobs)[p]->logprob, (*expected[i].prompt_logprobs)[p]->logprob);
      }
    }
  }
}

TEST(EngineDeviceSamplingTest, RowsCarryTheSettingsAndOneAdjustmentPerTouchedToken) {
  ResolvedSampling p;
  p.temperature = 0.5f;
  p.top_k = 7;
  p.top_p = 0.9f;
  p.min_p = 0.1f;
  p.seed = 42;
  p.logprobs = 25;  // more than the operator returns: capped at kMaxSampledTopLogprobs
  p.min_tokens = 3;
  p.eos_token_ids = {2};
  p.stop_token_ids = {5};
  p.logit_bias = {{5, 1.0f}, {9, -2.0f}};
  p.repetition_penalty = 1.2f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<int32_t> prompt = {1, 9, 9};
  const std::vector<int32_t> output = {4, 4};
  std::vector<LogitAdjustment> adjustments(2);  // rows of earlier sequences
  const SamplingRowParams row = make_sampling_row(p, 3, prompt, output, &adjustments);
  EXPECT_EQ(row.logits_row, 3);
  EXPECT_EQ(row.greedy, 0);
  EXPECT_EQ(row.counter, 2u);
  EXPECT_EQ(row.num_top_logprobs, kMaxSampledTopLogprobs);
  EXPECT_EQ(row.adjustments_begin, 2);
  ASSERT_EQ(row.num_adjustments, 5);  // tokens 5, 2, 9, 1, 4
  std::map<int32_t, LogitAdjustment> by_token;
  for (int j = 0; j < row.num_adjustments; ++j) {
    const LogitAdjustment& a = adjustments[static_cast<size_t>(row.adjustments_begin + j)];
    EXPECT_TRUE(by_token.emplace(a.token_id, a).second) << "token " << a.token_id << " twice";
  }
  EXPECT_EQ(by_token[5].blocked, 1);
  EXPECT_EQ(by_token[5].bias, 1.0f);
  EXPECT_EQ(by_token[2].blocked, 1);
  EXPECT_EQ(by_token[9].bias, -2.0f);
  EXPECT_EQ(by_token[9].repetition_penalty, 1.2f);
  EXPECT_EQ(by_token[9].subtract, 0.0f);
  EXPECT_EQ(by_token[1].repetition_penalty, 1.2f);
  EXPECT_FLOAT_EQ(by_token[4].subtract, 0.5f * 2 + 0.25f);
  EXPECT_EQ(by_token[4].blocked, 0);

  p.temperature = 0.0f;
  p.min_tokens = 0;
  p.logit_bias.clear();
  p.repetition_penalty = 1.0f;
  p.frequency_penalty = p.presence_penalty = 0.0f;
  p.logprobs = -1;
  const SamplingRowParams plain = make_sampling_row(p, 0, prompt, output, &adjustments);
  EXPECT_EQ(plain.greedy, 1);
  EXPECT_EQ(plain.num_adjustments, 0);
  EXPECT_EQ(plain.num_top_logprobs, -1);
}

}  // namespace
}  // namespace kiln::testing
