// The sampling operator's CPU twin (kernels/sampling.h) on its own: each cut-off keeps exactly
// the set it defines, draws follow the kept probabilities, adjustments apply in the sampler's
// order, and logprobs are the raw logits' log_softmax.
#include "kernels/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>
#include <vector>

namespace kiln {
namespace {

std::vector<float> random_logits(int vocab, uint32_t seed, float scale = 3.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> logits(static_cast<size_t>(vocab));
  for (float& x : logits) x = normal(rng);
  return logits;
}

SampledRow sample_one(const std::vector<float>& logits, const SamplingRowParams& p,
                      const std::vector<LogitAdjustment>& adjustments = {}, const std::vector<uint32_t>& bitmask = {}) {
  SampledRow out;
  cpu::sample_rows(logits.data(), static_cast<int>(logits.size()), {&p, 1}, adjustments, &out,
                   bitmask.empty() ? nullptr : bitmask.data());
  return out;
}

// A bitmask allowing `allowed` out of `vocab` ids (the words' spare bits past vocab set, as a
// careless writer might leave them).
std::vector<uint32_t> bitmask_of(int vocab, const std::vector<int32_t>& allowed) {
  std::vector<uint32_t> words(static_cast<size_t>(sampling_bitmask_words(vocab)), 0);
  for (int32_t id : allowed) words[static_cast<size_t>(id) / 32] |= 1u << (id % 32);
  for (int i = vocab; i < static_cast<int>(words.size()) * 32; ++i) words[static_cast<size_t>(i) / 32] |= 1u << (i % 32);
  return words;
}

// Probabilities at temperature t, ids sorted best first.
std::vector<int32_t> order_by_logit(const std::vector<float>& logits) {
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  return ids;
}

TEST(SamplingTest, GreedyTakesTheArgmaxOfTheAdjustedLogits) {
  const std::vector<float> logits = random_logits(500, 1);
  const std::vector<int32_t> order = order_by_logit(logits);
  SamplingRowParams p;
  EXPECT_EQ(sample_one(logits, p).token_id, order[0]);
  // Blocking the best gives the second; a bias can lift any token to the top.
  std::vector<LogitAdjustment> adjustments(1);
  adjustments[0].token_id = order[0];
  adjustments[0].blocked = 1;
  p.num_adjustments = 1;
  EXPECT_EQ(sample_one(logits, p, adjustments).token_id, order[1]);
  adjustments[0] = LogitAdjustment{};
  adjustments[0].token_id = order[400];
  adjustments[0].bias = 100.0f;
  EXPECT_EQ(sample_one(logits, p, adjustments).token_id, order[400]);
}

TEST(SamplingTest, PenaltiesFollowTheSignOfTheLogit) {
  std::vector<float> logits = {2.0f, -2.0f, 1.5f, -10.0f};
  SamplingRowParams p;
  std::vector<LogitAdjustment> adjustments(1);
  adjustments[0].token_id = 0;
  adjustments[0].repetition_penalty = 2.0f;  // 2.0 -> 1.0: token 2 (1.5) wins
  p.num_adjustments = 1;
  EXPECT_EQ(sample_one(logits, p, adjustments).token_id, 2);
  adjustments[0].repetition_penalty = 1.0f;
  adjustments[0].subtract = 0.6f;  // 2.0 -> 1.4
  EXPECT_EQ(sample_one(logits, p, adjustments).token_id, 2);
  adjustments[0].subtract = 0.4f;  // 2.0 -> 1.6
  EXPECT_EQ(sample_one(logits, p, adjustments).token_id, 0);
  // A negative logit is multiplied by the penalty (-2 x 3 = -6), so it falls below token 1's -3.
  logits = {-2.0f, -3.0f};
  adjustments[0] = LogitAdjustment{};
  adjustments[0].token_id = 0;
  adjustments[0].repetition_penalty = 3.0f;
  EXPECT_EQ(sample_one(logits, p, adjustments).token_id, 1);
}

TEST(SamplingTest, DrawsStayInsideTheCutOffsAndFollowTheKeptProbabilities) {
  const int vocab = 300;
  const std::vector<float> logits = random_logits(vocab, 2, 1.0f);
  const std::vector<int32_t> order = order_by_logit(logits);
  SamplingRowParams p;
  p.greedy = 0;
  p.temperature = 0.7f;
  p.seed = 99;
  auto probabilities = [&] {
    std::vector<double> probs(vocab);
    const float max_logit = logits[order[0]];
    double sum = 0;
    for (int i = 0; i < vocab; ++i) sum += probs[i] = std::exp((logits[i] - max_logit) / p.temperature);
    for (double& x : probs) x /= sum;
    return probs;
  };
  const std::vector<double> probs = probabilities();

  // top_k = 10: only the 10 best, in proportion.
  p.top_k = 10;
  std::map<int32_t, int> counts;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) {
    p.counter = static_cast<uint64_t>(i);
    ++counts[sample_one(logits, p).token_id];
  }
  double kept_mass = 0;
  for (int i = 0; i < 10; ++i) kept_mass += probs[order[i]];
  for (const auto& [token, count] : counts) {
    const auto rank = std::find(order.begin(), order.end(), token) - order.begin();
    ASSERT_LT(rank, 10) << "token " << token << " is outside top_k";
    const double expected = probs[token] / kept_mass * draws;
    EXPECT_NEAR(count, expected, 5 * std::sqrt(expected) + 5) << "token " << token;
  }

  // top_p = 0.5: the smallest best-first prefix holding half the mass.
  p.top_k = 0;
  p.top_p = 0.5f;
  double mass = 0;
  size_t prefix = 0;
  while (mass < 0.5) mass += probs[order[prefix++]];
  for (int i = 0; i < 3000; ++i) {
    p.counter = static_cast<uint64_t>(i);
    const int32_t token = sample_one(logits, p).token_id;
    const auto rank = static_cast<size_t>(std::find(order.begin(), order.end(), token) - order.begin());
    ASSERT_LT(rank, prefix) << "token " << token << " is outside top_p";
  }

  // min_p = 0.3: tokens at least 0.3 x the best probability.
  p.top_p = 1.0f;
  p.min_p = 0.3f;
  for (int i = 0; i < 3000; ++i) {
    p.counter = static_cast<uint64_t>(i);
    const int32_t token = sample_one(logits, p).token_id;
    ASSERT_GE(probs[token], 0.3 * probs[order[0]] * (1 - 1e-6)) << "token " << token;
  }
}

TEST(SamplingTest, TheDrawDependsOnlyOnSeedAndCounter) {
  const std::vector<float> logits = random_logits(1000, 3);
  SamplingRowParams p;
  p.greedy = 0;
  p.seed = 5;
  p.counter = 17;
  const int32_t first = sample_one(logits, p).token_id;
  // The same row among others in one call draws the same token.
  std::vector<float> two_rows = random_logits(1000, 4);
  two_rows.insert(two_rows.end(), logits.begin(), logits.end());
  SamplingRowParams second = p;
  second.logits_row = 1;
  SamplingRowParams other;
  std::vector<SampledRow> out(2);
  const std::vector<SamplingRowParams> rows = {other, second};
  cpu::sample_rows(two_rows.data(), 1000, rows, {}, out.data());
  EXPECT_EQ(out[1].token_id, first);
  // Different counters spread over many tokens.
  std::map<int32_t, int> seen;
  for (uint64_t c = 0; c < 200; ++c) {
    p.counter = c;
    ++seen[sample_one(logits, p).token_id];
  }
  EXPECT_GT(seen.size(), 10u);
}

TEST(SamplingTest, LogprobsAreTheRawLogSoftmaxWithRankAndTopTies) {
  std::vector<float> logits = random_logits(700, 6);
  logits[10] = logits[20] = 50.0f;  // a tie at the top: lower id first
  SamplingRowParams p;
  p.num_top_logprobs = 4;
  std::vector<LogitAdjustment> adjustments(1);
  adjustments[0].token_id = 10;
  adjustments[0].blocked = 1;  // the sampled token becomes 20; logprobs stay raw
  p.num_adjustments = 1;
  const SampledRow row = sample_one(logits, p, adjustments);
  ASSERT_EQ(row.token_id, 20);
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - 50.0);
  const double log_sum = 50.0 + std::log(sum);
  EXPECT_NEAR(row.logprob, 50.0 - log_sum, 1e-5);
  EXPECT_EQ(row.rank, 1);
  ASSERT_EQ(row.num_top, 4);
  EXPECT_EQ(row.top_ids[0], 10);
  EXPECT_EQ(row.top_ids[1], 20);
  const std::vector<int32_t> order = order_by_logit(logits);
  EXPECT_EQ(row.top_ids[2], order[2]);
  EXPECT_EQ(row.top_ids[3], order[3]);
  EXPECT_NEAR(row.top_logprobs[3], logits[order[3]] - log_sum, 1e-5);

  // Rank counts strictly greater logits.
  p.num_adjustments = 0;
  p.greedy = 1;
  adjustments.clear();
  std::vector<float> flat = {1.0f, 3.0f, 3.0f, 2.0f};
  LogitAdjustment lift;
  lift.token_id = 3;
  lift.bias = 5.0f;
  p.num_adjustments = 1;
  const SampledRow lifted = sample_one(flat, p, {lift});
  EXPECT_EQ(lifted.token_id, 3);
  EXPECT_EQ(lifted.rank, 3);
}

TEST(SamplingBitmaskTest, AMaskedRowNeverYieldsAMaskedToken) {
  constexpr int kVocab = 1000;
  std::mt19937 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const std::vector<float> logits = random_logits(kVocab, 100 + static_cast<uint32_t>(trial));
    std::vector<int32_t> allowed;
    for (int32_t id = 0; id < kVocab; ++id) {
      if (rng() % 50 == 0) allowed.push_back(id);
    }
    if (allowed.empty()) allowed.push_back(static_cast<int32_t>(rng() % kVocab));
    const std::vector<uint32_t> mask = bitmask_of(kVocab, allowed);
    SamplingRowParams p;
    p.bitmask_row = 0;
    p.greedy = trial % 3 == 0;
    p.temperature = 0.5f + static_cast<float>(trial % 5);
    p.top_k = trial % 4 == 1 ? 3 : 0;
    p.top_p = trial % 4 == 2 ? 0.6f : 1.0f;
    p.seed = static_cast<uint64_t>(trial);
    p.num_top_logprobs = 2;
    // A bias large enough to win everywhere, on a masked token: the mask still holds.
    std::vector<LogitAdjustment> adjustments;
    for (int32_t id = 0; id < kVocab; ++id) {
      if (!std::binary_search(allowed.begin(), allowed.end(), id)) {
        adjustments.push_back(LogitAdjustment{id, 0, 1000.0f, 1.0f, 0.0f});
        break;
      }
    }
    p.num_adjustments = static_cast<int32_t>(adjustments.size());
    const SampledRow out = sample_one(logits, p, adjustments, mask);
    ASSERT_TRUE(std::binary_search(allowed.begin(), allowed.end(), out.token_id)) << "trial " << trial << " token " << out.token_id;
    if (p.greedy) {
      int32_t best = allowed[0];
      for (int32_t id : allowed) {
        if (logits[static_cast<size_t>(id)] > logits[static_cast<size_t>(best)]) best = id;
      }
      EXPECT_EQ(out.token_id, best);
    }
    // Logprobs stay those of the raw logits, masked or not.
    SamplingRowParams unmasked = p;
    unmasked.bitmask_row = -1;
    unmasked.greedy = 1;
    unmasked.num_adjustments = 0;
    const SampledRow raw = sample_one(logits, unmasked);
    EXPECT_EQ(out.num_top, 2);
    EXPECT_EQ(out.top_ids[0], raw.top_ids[0]);
  }
}

TEST(SamplingBitmaskTest, OneAllowedTokenIsAlwaysTheOne) {
  const std::vector<float> logits = random_logits(300, 5);
  for (int32_t only : {0, 31, 32, 299}) {
    for (int greedy : {0, 1}) {
      SamplingRowParams p;
      p.bitmask_row = 0;
      p.greedy = greedy;
      p.top_k = 1;
      EXPECT_EQ(sample_one(logits, p, {}, bitmask_of(300, {only})).token_id, only);
    }
  }
}

TEST(SamplingBitmaskTest, NothingAllowedYieldsNoToken) {
  const std::vector<float> logits = random_logits(100, 6);
  for (int greedy : {0, 1}) {
    SamplingRowParams p;
    p.bitmask_row = 0;
    p.greedy = greedy;
    p.num_top_logprobs = 3;
    const SampledRow none = sample_one(logits, p, {}, bitmask_of(100, {}));
    EXPECT_EQ(none.token_id, kNoAllowedToken);
    EXPECT_EQ(none.num_top, 0);
    // The mask allows one token that min_tokens-style blocking then forbids: still nothing.
    SamplingRowParams blocking = p;
    blocking.num_adjustments = 1;
    const SampledRow blocked = sample_one(logits, blocking, {LogitAdjustment{7, 1, 0.0f, 1.0f, 0.0f}}, bitmask_of(100, {7}));
    EXPECT_EQ(blocked.token_id, kNoAllowedToken);
    // Without a mask, every token blocked keeps its old answer.
    SamplingRowParams unmasked = p;
    unmasked.bitmask_row = -1;
    std::vector<LogitAdjustment> all;
    for (int32_t id = 0; id < 100; ++id) all.push_back(LogitAdjustment{id, 1, 0.0f, 1.0f, 0.0f});
    unmasked.num_adjustments = 100;
    EXPECT_EQ(sample_one(logits, unmasked, all).token_id, 0);
  }
}

TEST(SamplingBitmaskTest, RowsPickTheirOwnMaskRowsAndUnmaskedRowsAreUntouched) {
  constexpr int kVocab = 70;
  const std::vector<float> one = random_logits(kVocab, 8);
  std::vector<float> logits = one;
  logits.insert(logits.end(), one.begin(), one.end());
  std::vector<uint32_t> masks = bitmask_of(kVocab, {3});
  const std::vector<uint32_t> second = bitmask_of(kVocab, {65});
  masks.insert(masks.end(), second.begin(), second.end());
  std::vector<SamplingRowParams> rows(3);
  rows[0].bitmask_row = 1;
  rows[1].bitmask_row = 0;
  rows[1].logits_row = 1;
  rows[2].bitmask_row = -1;
  std::vector<SampledRow> out(3);
  cpu::sample_rows(logits.data(), kVocab, rows, {}, out.data(), masks.data());
  EXPECT_EQ(out[0].token_id, 65);
  EXPECT_EQ(out[1].token_id, 3);
  SampledRow plain;
  cpu::sample_rows(logits.data(), kVocab, {&rows[2], 1}, {}, &plain);
  EXPECT_EQ(out[2].token_id, plain.token_id);
}

}  // namespace
}  // namespace kiln
