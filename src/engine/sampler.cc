#include "engine/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <unordered_map>

#include "kernels/sampling.h"

namespace kiln {
namespace {

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

int32_t argmax(std::span<const float> v) {
  int32_t best = 0;
  for (size_t i = 1; i < v.size(); ++i) {
    if (v[i] > v[best]) best = static_cast<int32_t>(i);
  }
  return best;
}

}  // namespace

// The device sampler draws with the same generator, so both backends sample alike.
double sampling_uniform(uint64_t seed, uint64_t counter) { return sampling_draw_uniform(seed, counter); }

std::vector<float> log_softmax(std::span<const float> logits) {
  std::vector<float> out(logits.begin(), logits.end());
  float max_logit = kNegInf;
  for (float x : logits) max_logit = std::max(max_logit, x);
  double sum = 0;
  for (float x : logits) sum += std::exp(static_cast<double>(x) - max_logit);
  const float log_sum = static_cast<float>(std::log(sum)) + max_logit;
  for (float& x : out) x -= log_sum;
  return out;
}

TokenLogprob make_token_logprob(std::span<const float> logprobs, int32_t token_id, int num_top) {
  TokenLogprob lp;
  lp.token_id = token_id;
  lp.logprob = logprobs[token_id];
  lp.rank = static_cast<int>(std::count_if(logprobs.begin(), logprobs.end(),
                                           [&](float x) { return x >= lp.logprob; }));
  num_top = std::min<int>(num_top, static_cast<int>(logprobs.size()));
  if (num_top > 0) {
    std::vector<int32_t> ids(logprobs.size());
    std::iota(ids.begin(), ids.end(), 0);
    std::partial_sort(ids.begin(), ids.begin() + num_top, ids.end(), [&](int32_t a, int32_t b) {
      return logprobs[a] != logprobs[b] ? logprobs[a] > logprobs[b] : a < b;
    });
    for (int i = 0; i < num_top; ++i) lp.top.emplace_back(ids[i], logprobs[ids[i]]);
  }
  return lp;
}

void apply_logits_processors(const ResolvedSampling& p, std::span<const int32_t> prompt,
                             std::span<const int32_t> output, std::span<float> logits) {
  const auto vocab = static_cast<int32_t>(logits.size());
  auto in_vocab = [&](int32_t t) { return t >= 0 && t < vocab; };
  if (static_cast<int>(output.size()) < p.min_tokens) {
    for (int32_t t : p.stop_token_ids) if (in_vocab(t)) logits[t] = kNegInf;
    if (!p.ignore_eos) {
      for (int32_t t : p.eos_token_ids) if (in_vocab(t)) logits[t] = kNegInf;
    }
  }
  for (const auto& [t, bias] : p.logit_bias) {
    if (in_vocab(t)) logits[t] += bias;
  }
  if (p.repetition_penalty != 1.0f) {
    std::vector<bool> seen(logits.size(), false);
    for (int32_t t : prompt) if (in_vocab(t)) seen[t] = true;
    for (int32_t t : output) if (in_vocab(t)) seen[t] = true;
    for (int32_t t = 0; t < vocab; ++t) {
      if (!seen[t]) continue;
      logits[t] = logits[t] > 0 ? logits[t] / p.repetition_penalty
                                : logits[t] * p.repetition_penalty;
    }
  }
  if (p.frequency_penalty != 0.0f || p.presence_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (int32_t t : output) if (in_vocab(t)) ++counts[t];
    for (const auto& [t, count] : counts) {
      logits[t] -= p.frequency_penalty * static_cast<float>(count) + p.presence_penalty;
    }
  }
}

std::vector<float> sampling_probs(const ResolvedSampling& p, std::span<const float> logits) {
  const size_t vocab = logits.size();
  std::vector<float> probs(vocab);
  float max_logit = kNegInf;
  for (float x : logits) max_logit = std::max(max_logit, x);
  double sum = 0;
  for (size_t i = 0; i < vocab; ++i) {
    const double e = logits[i] == kNegInf ? 0.0 : std::exp((logits[i] - max_logit) / p.temperature);
    probs[i] = static_cast<float>(e);
    sum += e;
  }
  for (float& x : probs) x = static_cast<float>(x / sum);

  auto renormalize = [&] {
    double s = 0;
    for (float x : probs) s += x;
    for (float& x : probs) x = static_cast<float>(x / s);
  };
  if (p.min_p > 0.0f) {
    const float threshold = p.min_p * *std::max_element(probs.begin(), probs.end());
    for (float& x : probs) if (x < threshold) x = 0.0f;
    renormalize();
  }
  // Descending by probability, ties by lower id: the order top_k and top_p cut in. Only the
  // candidates are ordered: sorting the whole vocabulary (128k ids) per token cost more than
  // a GPU decode step.
  const bool top_k_active = p.top_k > 0 && static_cast<size_t>(p.top_k) < vocab;
  const bool top_p_active = p.top_p < 1.0f;
  if (!top_k_active && !top_p_active) return probs;
  const auto before_in_order = [&](int32_t a, int32_t b) {
    return probs[a] > probs[b] || (probs[a] == probs[b] && a < b);
  };
  std::vector<int32_t> order(vocab);
  std::iota(order.begin(), order.end(), 0);
  size_t candidates = vocab;
  if (top_k_active) {
    candidates = static_cast<size_t>(p.top_k);
    std::nth_element(order.begin(), order.begin() + candidates, order.end(), before_in_order);
    for (size_t i = candidates; i < vocab; ++i) probs[order[i]] = 0.0f;
    renormalize();
  }
  if (top_p_active) {
    // Order a prefix large enough to reach top_p, widening it when the mass is spread thin.
    size_t ordered = std::min<size_t>(candidates, 1024);
    for (;;) {
      if (ordered < candidates) {
        std::nth_element(order.begin(), order.begin() + ordered, order.begin() + candidates, before_in_order);
      }
      std::sort(order.begin(), order.begin() + ordered, before_in_order);
      double mass = 0;
      for (size_t i = 0; i < ordered; ++i) mass += probs[order[i]];
      if (mass >= p.top_p || ordered == candidates) break;
      ordered = std::min(candidates, ordered * 8);
    }
    // Keep a token while the mass strictly before it is below top_p (always at least one).
    double before = 0;
    for (size_t i = 0; i < candidates; ++i) {
      const float x = probs[order[i]];
      if (i > 0 && before >= p.top_p) probs[order[i]] = 0.0f;
      before += x;
    }
    renormalize();
  }
  return probs;
}

SampledToken sample_token(const ResolvedSampling& p, std::span<const float> raw_logits,
                          std::span<const int32_t> prompt, std::span<const int32_t> output) {
  std::vector<float> logits(raw_logits.begin(), raw_logits.end());
  apply_logits_processors(p, prompt, output, logits);
  SampledToken result;
  if (p.greedy()) {
    result.token_id = argmax(logits);
  } else {
    const std::vector<float> probs = sampling_probs(p, logits);
    const double u = sampling_uniform(p.seed, output.size());
    double cumulative = 0;
    int32_t last_nonzero = argmax(probs);
    result.token_id = last_nonzero;
    for (size_t i = 0; i < probs.size(); ++i) {
      if (probs[i] <= 0.0f) continue;
      last_nonzero = static_cast<int32_t>(i);
      cumulative += probs[i];
      if (u < cumulative) {
        result.token_id = static_cast<int32_t>(i);
        break;
      }
      result.token_id = last_nonzero;  // rounding: u beyond the summed mass
    }
  }
  if (p.logprobs >= 0) {
    const std::vector<float> lp = log_softmax(raw_logits);
    result.logprob = make_token_logprob(lp, result.token_id, p.logprobs);
  }
  return result;
}

}  // namespace kiln
