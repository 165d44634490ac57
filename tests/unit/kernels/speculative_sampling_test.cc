// Speculative verification in the sampling operator's CPU twin (kernels/sampling.h): a row with a
// draft token is rejection sampling with the draft walked first, so its token follows the target
// distribution exactly whatever the draft, and equals the draft exactly when it is accepted
// (probability p(draft)). The chi-square checks are deterministic (fixed seeds) and strict enough
// to fail a sampler that favours the draft even slightly, which the last test shows.
#include "kernels/sampling.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <vector>

namespace kiln {
namespace {

// The kept, renormalized target distribution of a row (temperature, then top_p), in f64.
std::vector<double> target_distribution(const std::vector<float>& logits, float temperature, float top_p) {
  const size_t n = logits.size();
  const float max_logit = *std::max_element(logits.begin(), logits.end());
  std::vector<double> p(n);
  double sum = 0;
  for (size_t i = 0; i < n; ++i) sum += p[i] = std::exp((logits[i] - max_logit) / temperature);
  for (double& x : p) x /= sum;
  if (top_p < 1.0f) {
    std::vector<size_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    double mass = 0;
    size_t kept = 0;
    while (kept < n && mass < top_p) mass += p[order[kept++]];
    for (size_t k = kept; k < n; ++k) p[order[k]] = 0;
    for (double& x : p) x /= mass;
  }
  return p;
}

// Pearson's statistic over the tokens with positive probability; a token outside the support
// that was drawn makes it infinite.
double chi_square(const std::vector<int>& counts, const std::vector<double>& p, int draws, int* degrees) {
  double statistic = 0;
  *degrees = -1;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      if (counts[i] > 0) return INFINITY;
      continue;
    }
    const double expected = p[i] * draws;
    statistic += (counts[i] - expected) * (counts[i] - expected) / expected;
    ++*degrees;
  }
  return statistic;
}

// The chi-square quantile at 1 - 1e-4 (Wilson-Hilferty), so a correct sampler fails one seed in
// ten thousand; every seed here is fixed, so the test is deterministic either way.
double critical_value(int degrees) {
  const double k = degrees, z = 3.719;
  const double c = 1 - 2 / (9 * k) + z * std::sqrt(2 / (9 * k));
  return k * c * c * c;
}

struct Draws {
  std::vector<int> counts;
  int accepted = 0;
};

Draws verify_many(const std::vector<float>& logits, SamplingRowParams p, int draws) {
  Draws d;
  d.counts.assign(logits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    p.counter = static_cast<uint64_t>(i);
    SampledRow row;
    cpu::sample_rows(logits.data(), static_cast<int>(logits.size()), {&p, 1}, {}, &row);
    ++d.counts[static_cast<size_t>(row.token_id)];
    d.accepted += row.token_id == p.draft_token_id;
  }
  return d;
}

const std::vector<float> kLogits = {1.2f, -0.3f, 0.8f, 2.0f, -1.5f, 0.1f, 0.9f, -0.7f};

TEST(SpeculativeSamplingTest, AVerifiedRowFollowsTheTargetWhateverTheDraft) {
  const int draws = 40000;
  for (float top_p : {1.0f, 0.8f}) {
    const std::vector<double> p = target_distribution(kLogits, 1.0f, top_p);
    // The likeliest token, a middling one, and one top_p cuts (when it cuts): the row's token
    // follows p and equals the draft as often as p(draft).
    for (int32_t draft : {3, 5, 4, -1}) {
      SCOPED_TRACE("top_p " + std::to_string(top_p) + " draft " + std::to_string(draft));
      SamplingRowParams row;
      row.greedy = 0;
      row.temperature = 1.0f;
      row.top_p = top_p;
      row.seed = 2024 + static_cast<uint64_t>(draft + 1);
      row.draft_token_id = draft;
      const Draws d = verify_many(kLogits, row, draws);
      int degrees = 0;
      const double statistic = chi_square(d.counts, p, draws, &degrees);
      EXPECT_LT(statistic, critical_value(degrees));
      if (draft >= 0) {
        const double expected = p[static_cast<size_t>(draft)] * draws;
        EXPECT_NEAR(d.accepted, expected, 4 * std::sqrt(expected + 1) + 1);
        // Rejected rows never yield the draft: token == draft means accepted.
        EXPECT_EQ(d.accepted, d.counts[static_cast<size_t>(draft)]);
      }
    }
  }
}

TEST(SpeculativeSamplingTest, ADraftAccountsForAdjustmentsAndTemperature) {
  // Blocking the draft makes it impossible to accept; the rest keeps its proportions.
  const int draws = 30000;
  SamplingRowParams row;
  row.greedy = 0;
  row.temperature = 0.6f;
  row.seed = 77;
  row.draft_token_id = 3;
  row.num_adjustments = 1;
  const LogitAdjustment block{3, 1, 0.0f, 1.0f, 0.0f};
  std::vector<float> blocked_logits = kLogits;
  blocked_logits[3] = -INFINITY;
  const std::vector<double> p = target_distribution(blocked_logits, 0.6f, 1.0f);
  std::vector<int> counts(kLogits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    row.counter = static_cast<uint64_t>(i);
    SampledRow out;
    cpu::sample_rows(kLogits.data(), static_cast<int>(kLogits.size()), {&row, 1}, {&block, 1}, &out);
    ++counts[static_cast<size_t>(out.token_id)];
  }
  EXPECT_EQ(counts[3], 0);
  int degrees = 0;
  const double statistic = chi_square(counts, p, draws, &degrees);
  EXPECT_LT(statistic, critical_value(degrees));
}

TEST(SpeculativeSamplingTest, GreedyRowsIgnoreTheDraftAndTheOnlyKeptTokenIsAlwaysAccepted) {
  SamplingRowParams greedy;
  greedy.draft_token_id = 0;
  SampledRow out;
  cpu::sample_rows(kLogits.data(), 8, {&greedy, 1}, {}, &out);
  EXPECT_EQ(out.token_id, 3);  // the argmax, not the draft
  // top_k = 1 keeps the argmax only: a draft of it is always accepted, any other never.
  SamplingRowParams top1;
  top1.greedy = 0;
  top1.top_k = 1;
  top1.seed = 5;
  for (int32_t draft : {3, 6}) {
    top1.draft_token_id = draft;
    for (uint64_t c = 0; c < 200; ++c) {
      top1.counter = c;
      cpu::sample_rows(kLogits.data(), 8, {&top1, 1}, {}, &out);
      ASSERT_EQ(out.token_id, 3) << "draft " << draft;
    }
  }
}

TEST(SpeculativeSamplingTest, TheChiSquareCheckFailsASamplerThatFavoursTheDraft) {
  // The same check over a sampler that, after a correct draw, also accepts the draft 1% of the
  // times it was rejected (a subtle bias toward the draft): the statistic must exceed the bound.
  const int draws = 40000;
  const std::vector<double> p = target_distribution(kLogits, 1.0f, 1.0f);
  SamplingRowParams row;
  row.greedy = 0;
  row.seed = 99;
  row.draft_token_id = 5;
  std::vector<int> counts(kLogits.size(), 0);
  for (int i = 0; i < draws; ++i) {
    row.counter = static_cast<uint64_t>(i);
    SampledRow out;
    cpu::sample_rows(kLogits.data(), 8, {&row, 1}, {}, &out);
    int32_t token = out.token_id;
    if (token != row.draft_token_id && sampling_draw_uniform(7, static_cast<uint64_t>(i)) < 0.01) token = row.draft_token_id;
    ++counts[static_cast<size_t>(token)];
  }
  int degrees = 0;
  const double statistic = chi_square(counts, p, draws, &degrees);
  EXPECT_GT(statistic, critical_value(degrees));
}

}  // namespace
}  // namespace kiln
