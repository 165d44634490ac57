// A request's sampling settings, turned into the sampling operator's rows and adjustments
// (engine/sampling_rows.h) and drawn by its CPU twin, follow vLLM's semantics: penalties, bias and
// min_tokens on the logits, then greedy or temperature -> min_p -> top_k -> top_p -> draw, raw
// logprobs. This is the only sampler: the CUDA kernel is checked against the same twin.
#include "engine/sampling_rows.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <vector>

#include "engine/prompt_logprobs.h"

namespace kiln {
namespace {

SampledRow sample(const ResolvedSampling& p, const std::vector<float>& logits, const std::vector<int32_t>& prompt = {},
                  const std::vector<int32_t>& output = {}) {
  std::vector<LogitAdjustment> adjustments;
  const SamplingRowParams row = make_sampling_row(p, 0, prompt, output, &adjustments);
  SampledRow out;
  cpu::sample_rows(logits.data(), static_cast<int>(logits.size()), {&row, 1}, adjustments, &out);
  return out;
}

// How often each token is drawn over `draws` seeds.
std::map<int32_t, double> frequencies(ResolvedSampling p, const std::vector<float>& logits, int draws = 20000) {
  std::map<int32_t, double> counts;
  for (int i = 0; i < draws; ++i) {
    p.seed = static_cast<uint64_t>(i);
    counts[sample(p, logits).token_id] += 1.0 / draws;
  }
  return counts;
}

ResolvedSampling random_params(float temperature = 1.0f) {
  ResolvedSampling p;
  p.temperature = temperature;
  return p;
}

TEST(SamplingRowsTest, GreedyTakesArgmaxLowestIdOnTies) {
  ResolvedSampling p;
  p.temperature = 0.0f;
  EXPECT_EQ(sample(p, {1, 3, 3, 2}).token_id, 1);
}

TEST(SamplingRowsTest, TemperatureScalesTheDistribution) {
  const std::vector<float> logits{0.0f, 1.0f, 2.0f};
  const auto freq = frequencies(random_params(0.5f), logits);
  const double z = 1 + std::exp(2.0) + std::exp(4.0);
  EXPECT_NEAR(freq.at(2), std::exp(4.0) / z, 0.015);
  EXPECT_NEAR(freq.at(1), std::exp(2.0) / z, 0.015);
}

TEST(SamplingRowsTest, TopKTopPAndMinPKeepTheirSets) {
  // Probabilities 0.5, 0.3, 0.15, 0.05.
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto p = random_params();
  p.top_k = 2;
  auto freq = frequencies(p, logits);
  EXPECT_EQ(freq.size(), 2u);
  EXPECT_NEAR(freq.at(0), 0.625, 0.015);
  p = random_params();
  p.top_p = 0.7f;  // the smallest set reaching 0.7: 0.5 + 0.3
  freq = frequencies(p, logits);
  EXPECT_EQ(freq.size(), 2u);
  EXPECT_NEAR(freq.at(1), 0.375, 0.015);
  p = random_params();
  p.min_p = 0.25f;  // below 0.125 goes
  freq = frequencies(p, logits);
  EXPECT_EQ(freq.size(), 3u);
  EXPECT_NEAR(freq.at(2), 0.15 / 0.95, 0.015);
}

TEST(SamplingRowsTest, PenaltiesFollowVllmSemantics) {
  ResolvedSampling p;
  p.temperature = 0.0f;
  p.repetition_penalty = 2.0f;
  p.frequency_penalty = 0.5f;
  p.presence_penalty = 0.25f;
  const std::vector<int32_t> prompt{0, 1};
  const std::vector<int32_t> output{2, 2, 1};
  std::vector<LogitAdjustment> adjustments;
  const SamplingRowParams row = make_sampling_row(p, 0, prompt, output, &adjustments);
  // Each adjusted logit, pinned between two neutral competitors through greedy picks.
  // Token 0 (prompt only): 4 / 2 = 2 beats a neutral 1.9 but not 2.1.
  std::vector<float> versus{4.0f, -50, -50, 2.1f, -50};
  SampledRow out;
  cpu::sample_rows(versus.data(), 5, {&row, 1}, adjustments, &out);
  EXPECT_EQ(out.token_id, 3);
  versus[3] = 1.9f;
  cpu::sample_rows(versus.data(), 5, {&row, 1}, adjustments, &out);
  EXPECT_EQ(out.token_id, 0);
  // Token 2 (twice in the output): 4 / 2 - 2 x 0.5 - 0.25 = 0.75.
  std::vector<float> two{-50, -50, 4.0f, 0.7f, -50};
  cpu::sample_rows(two.data(), 5, {&row, 1}, adjustments, &out);
  EXPECT_EQ(out.token_id, 2);
  two[3] = 0.8f;
  cpu::sample_rows(two.data(), 5, {&row, 1}, adjustments, &out);
  EXPECT_EQ(out.token_id, 3);
  // Token 1 (negative, prompt and once in the output): -1 x 2 - 0.5 - 0.25 = -2.75.
  std::vector<float> negative{-50, -1.0f, -50, -2.8f, -50};
  cpu::sample_rows(negative.data(), 5, {&row, 1}, adjustments, &out);
  EXPECT_EQ(out.token_id, 1);
  negative[3] = -2.7f;
  cpu::sample_rows(negative.data(), 5, {&row, 1}, adjustments, &out);
  EXPECT_EQ(out.token_id, 3);
}

TEST(SamplingRowsTest, LogitBiasAndMinTokensBlockStopTokens) {
  ResolvedSampling p;
  p.temperature = 0.0f;
  p.logit_bias = {{3, 10.0f}, {99, 1.0f}};  // out-of-vocab ids are ignored
  p.min_tokens = 2;
  p.eos_token_ids = {0};
  p.stop_token_ids = {1};
  const std::vector<float> logits{5.0f, 5.0f, 1.0f, 0.0f};
  EXPECT_EQ(sample(p, logits, {}, {2}).token_id, 3);  // EOS and stop blocked, bias lifts 3 to 10
  p.logit_bias.clear();
  EXPECT_EQ(sample(p, logits, {}, {2}).token_id, 2);
  EXPECT_EQ(sample(p, logits, {}, {2, 2}).token_id, 0);  // past min_tokens: EOS allowed again
  p.ignore_eos = true;
  EXPECT_EQ(sample(p, logits, {}, {}).token_id, 0);  // ignore_eos leaves EOS alone
}

TEST(SamplingRowsTest, DrawsFollowTheDistributionAndAreReproducible) {
  const std::vector<float> logits{std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  const auto freq = frequencies(random_params(), logits);
  EXPECT_NEAR(freq.at(0), 0.5, 0.02);
  EXPECT_NEAR(freq.at(1), 0.3, 0.02);
  EXPECT_NEAR(freq.at(2), 0.2, 0.02);
  // Same seed, same position: same token; the stream advances with the output position.
  auto p = random_params();
  p.seed = 7;
  std::vector<int32_t> seq_a, seq_b;
  for (int i = 0; i < 50; ++i) {
    seq_a.push_back(sample(p, logits, {}, seq_a).token_id);
    seq_b.push_back(sample(p, logits, {}, seq_b).token_id);
  }
  EXPECT_EQ(seq_a, seq_b);
  EXPECT_NE(std::count(seq_a.begin(), seq_a.end(), seq_a[0]), 50);
}

TEST(SamplingRowsTest, LogprobsAreRawLogSoftmaxWithTopN) {
  ResolvedSampling p;
  p.temperature = 0.0f;
  p.logprobs = 2;
  p.logit_bias = {{2, 100.0f}};  // the adjusted logits pick 2; logprobs stay raw
  const std::vector<float> logits{1.0f, 3.0f, 2.0f};
  const TokenLogprob lp = to_token_logprob(sample(p, logits));
  EXPECT_EQ(lp.token_id, 2);
  const double lse = std::log(std::exp(1.0) + std::exp(3.0) + std::exp(2.0));
  EXPECT_NEAR(lp.logprob, 2.0 - lse, 1e-5);
  EXPECT_EQ(lp.rank, 2);
  ASSERT_EQ(lp.top.size(), 2u);
  EXPECT_EQ(lp.top[0].first, 1);
  EXPECT_NEAR(lp.top[0].second, 3.0 - lse, 1e-5);
  EXPECT_EQ(lp.top[1].first, 2);
  // The prompt-logprob path (host logits rows) agrees with the operator's.
  const TokenLogprob host = make_token_logprob(log_softmax(logits), 2, 2);
  EXPECT_NEAR(host.logprob, lp.logprob, 1e-6);
  EXPECT_EQ(host.rank, lp.rank);
  EXPECT_EQ(host.top[0].first, lp.top[0].first);
}

TEST(SamplingRowsTest, RowsCarryTheSettingsAndOneAdjustmentPerTouchedToken) {
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
