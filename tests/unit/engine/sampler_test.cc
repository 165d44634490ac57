#include "engine/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace kiln {
namespace {

ResolvedSampling random_params(float temperature = 1.0f) {
  ResolvedSampling p;
  p.temperature = temperature;
  p.seed = 7;
  return p;
}

std::vector<float> softmax(const std::vector<float>& x, float t = 1.0f) {
  double sum = 0;
  std::vector<float> out;
  for (float v : x) sum += std::exp(v / t);
  for (float v : x) out.push_back(static_cast<float>(std::exp(v / t) / sum));
  return out;
}

TEST(SamplerTest, GreedyTakesArgmaxLowestIdOnTies) {
  ResolvedSampling p;
  p.temperature = 0.0f;
  EXPECT_EQ(sample_token(p, std::vector<float>{1, 3, 3, 2}, {}, {}).token_id, 1);
}

TEST(SamplerTest, TemperatureScalesTheDistribution) {
  const std::vector<float> logits{0.0f, 1.0f, 2.0f};
  const auto probs = sampling_probs(random_params(0.5f), logits);
  const auto expected = softmax(logits, 0.5f);
  for (int i = 0; i < 3; ++i) EXPECT_NEAR(probs[i], expected[i], 1e-6);
}

TEST(SamplerTest, TopKKeepsTheKBest) {
  auto p = random_params();
  p.top_k = 2;
  const std::vector<float> logits{0.0f, 3.0f, 1.0f, 2.0f};
  const auto probs = sampling_probs(p, logits);
  const double z = std::exp(3.0) + std::exp(2.0);
  EXPECT_FLOAT_EQ(probs[0], 0.0f);
  EXPECT_FLOAT_EQ(probs[2], 0.0f);
  EXPECT_NEAR(probs[1], std::exp(3.0) / z, 1e-6);
  EXPECT_NEAR(probs[3], std::exp(2.0) / z, 1e-6);
}

TEST(SamplerTest, TopPKeepsTheSmallestSetReachingP) {
  auto p = random_params();
  // Probabilities 0.5, 0.3, 0.2 (as logs): top_p 0.7 keeps 0.5 and 0.3 (0.5 < 0.7).
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  p.top_p = 0.7f;
  auto probs = sampling_probs(p, logits);
  EXPECT_NEAR(probs[0], 0.625, 1e-6);
  EXPECT_NEAR(probs[1], 0.375, 1e-6);
  EXPECT_FLOAT_EQ(probs[2], 0.0f);
  p.top_p = 0.5f;  // the first token alone reaches 0.5
  probs = sampling_probs(p, logits);
  EXPECT_NEAR(probs[0], 1.0, 1e-6);
}

TEST(SamplerTest, MinPDropsTokensBelowAFractionOfTheBest) {
  auto p = random_params();
  p.min_p = 0.5f;
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  const auto probs = sampling_probs(p, logits);  // threshold 0.25 drops 0.2
  EXPECT_NEAR(probs[0], 0.625, 1e-6);
  EXPECT_NEAR(probs[1], 0.375, 1e-6);
  EXPECT_FLOAT_EQ(probs[2], 0.0f);
}

TEST(SamplerTest, PenaltiesFollowVllmSemantics) {
  ResolvedSampling p;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  std::vector<float> logits{4.0f, -4.0f, 4.0f, 4.0f, 1.0f};
  const std::vector<int32_t> prompt{0, 1};
  const std::vector<int32_t> output{2, 2, 1};
  apply_logits_processors(p, prompt, output, logits);
  EXPECT_FLOAT_EQ(logits[0], 2.0f);                     // prompt only: repetition
  EXPECT_FLOAT_EQ(logits[1], -8.0f - 0.5f - 0.25f);     // negative: multiplied; once in output
  EXPECT_FLOAT_EQ(logits[2], 2.0f - 1.0f - 0.25f);      // twice in output
  EXPECT_FLOAT_EQ(logits[3], 4.0f);                     // unseen
  EXPECT_FLOAT_EQ(logits[4], 1.0f);
}

TEST(SamplerTest, LogitBiasAndMinTokensMaskStopTokens) {
  ResolvedSampling p;
  p.logit_bias = {{3, 10.0f}, {99, 1.0f}};  // out-of-vocab ids are ignored
  p.min_tokens = 2;
  p.eos_token_ids = {0};
  p.stop_token_ids = {1};
  std::vector<float> logits{5.0f, 5.0f, 1.0f, 0.0f};
  apply_logits_processors(p, {}, std::vector<int32_t>{2}, logits);
  EXPECT_TRUE(std::isinf(logits[0]) && logits[0] < 0);
  EXPECT_TRUE(std::isinf(logits[1]) && logits[1] < 0);
  EXPECT_FLOAT_EQ(logits[3], 10.0f);
  // Once min_tokens are out, EOS and stop tokens are allowed again.
  std::vector<float> later{5.0f, 5.0f, 1.0f, 0.0f};
  apply_logits_processors(p, {}, std::vector<int32_t>{2, 2}, later);
  EXPECT_FLOAT_EQ(later[0], 5.0f);
  // ignore_eos leaves EOS alone even before min_tokens.
  p.ignore_eos = true;
  std::vector<float> ignoring{5.0f, 5.0f, 1.0f, 0.0f};
  apply_logits_processors(p, {}, std::vector<int32_t>{}, ignoring);
  EXPECT_FLOAT_EQ(ignoring[0], 5.0f);
}

TEST(SamplerTest, DrawsFollowTheDistributionAndAreReproducible) {
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  std::map<int32_t, int> counts;
  const int kDraws = 20000;
  std::vector<int32_t> output;
  for (int i = 0; i < kDraws; ++i) {
    auto p = random_params();
    p.seed = static_cast<uint64_t>(i);
    ++counts[sample_token(p, logits, {}, output).token_id];
  }
  EXPECT_NEAR(counts[0] / double(kDraws), 0.5, 0.02);
  EXPECT_NEAR(counts[1] / double(kDraws), 0.3, 0.02);
  EXPECT_NEAR(counts[2] / double(kDraws), 0.2, 0.02);
  // Same seed, same position: same token; the stream advances with the output position.
  auto p = random_params();
  std::vector<int32_t> seq_a, seq_b;
  for (int i = 0; i < 50; ++i) {
    seq_a.push_back(sample_token(p, logits, {}, seq_a).token_id);
    seq_b.push_back(sample_token(p, logits, {}, seq_b).token_id);
  }
  EXPECT_EQ(seq_a, seq_b);
  EXPECT_NE(std::count(seq_a.begin(), seq_a.end(), seq_a[0]), 50);
}

TEST(SamplerTest, LogprobsAreRawLogSoftmaxWithTopN) {
  ResolvedSampling p;
  p.temperature = 0.0f;
  p.logprobs = 2;
  p.logit_bias = {{2, 100.0f}};  // processed logits pick 2; logprobs stay raw
  const std::vector<float> logits{1.0f, 3.0f, 2.0f};
  const SampledToken t = sample_token(p, logits, {}, {});
  ASSERT_TRUE(t.logprob.has_value());
  EXPECT_EQ(t.token_id, 2);
  const double lse = std::log(std::exp(1.0) + std::exp(3.0) + std::exp(2.0));
  EXPECT_NEAR(t.logprob->logprob, 2.0 - lse, 1e-5);
  ASSERT_EQ(t.logprob->top.size(), 2u);
  EXPECT_EQ(t.logprob->top[0].first, 1);
  EXPECT_NEAR(t.logprob->top[0].second, 3.0 - lse, 1e-5);
  EXPECT_EQ(t.logprob->top[1].first, 2);
}

TEST(GenerationDefaultsTest, RequestOverridesDefaults) {
  GenerationDefaults d;
  d.temperature = 0.6f;
  d.top_p = 0.95f;
  d.repetition_penalty = 1.1f;
  d.eos_token_ids = {128001};
  SamplingParams params;
  ResolvedSampling r = resolve_sampling(params, d, 3);
  EXPECT_FLOAT_EQ(r.temperature, 0.6f);
  EXPECT_FLOAT_EQ(r.top_p, 0.95f);
  EXPECT_EQ(r.top_k, 0);
  EXPECT_FLOAT_EQ(r.repetition_penalty, 1.1f);
  EXPECT_EQ(r.eos_token_ids, (std::vector<int32_t>{128001}));
  params.temperature = 0.0f;
  params.top_p = 0.5f;
  params.repetition_penalty = 1.3f;
  r = resolve_sampling(params, d, 3);
  EXPECT_TRUE(r.greedy());
  EXPECT_FLOAT_EQ(r.top_p, 0.5f);
  EXPECT_FLOAT_EQ(r.repetition_penalty, 1.3f);
  r = resolve_sampling(SamplingParams(), GenerationDefaults(), 3);  // --generation-config vllm
  EXPECT_FLOAT_EQ(r.temperature, 1.0f);
  EXPECT_FLOAT_EQ(r.top_p, 1.0f);
}

}  // namespace
}  // namespace kiln
